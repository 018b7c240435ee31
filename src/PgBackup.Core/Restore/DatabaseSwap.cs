using Npgsql;
using PgBackup.Server;

namespace PgBackup.Restore;

/// <summary>
/// Puts a freshly restored staging database in place. A swap for a live database runs both renames in one
/// transaction (ALTER DATABASE … RENAME is transactional), so either both happen or neither does — if the
/// second rename fails the first is rolled back and the live database keeps its name. A new target is the
/// staging database renamed. Either way the staging database's working mark (<see cref="WorkingDatabases"/>)
/// goes in the same transaction: a restored database is never taken for a leftover.
/// </summary>
internal static class DatabaseSwap
{
    // A client may reconnect between terminating its session and the rename; a few tries settle it.
    private const int Attempts = 5;

    /// <summary>Renames <paramref name="target"/> to <paramref name="previous"/> and <paramref name="staging"/> to <paramref name="target"/>.</summary>
    public static Task SwapAsync(PgServer server, string target, string staging, string previous, CancellationToken cancellationToken)
        => RenameInTransactionAsync(server, staging, [target, staging], [(target, previous), (staging, target)], cancellationToken);

    /// <summary>Renames the finished <paramref name="staging"/> database of a new restore to <paramref name="target"/>.</summary>
    public static Task RenameIntoPlaceAsync(PgServer server, string staging, string target, CancellationToken cancellationToken)
        => RenameInTransactionAsync(server, staging, [staging], [(staging, target)], cancellationToken);

    private static async Task RenameInTransactionAsync(PgServer server, string staging, string[] disconnect, (string From, string To)[] renames, CancellationToken cancellationToken)
    {
        var admin = new DatabaseAdmin(server);
        for (var attempt = 1; ; attempt++)
        {
            foreach (var database in disconnect)
            {
                await admin.TerminateSessionsAsync(database, cancellationToken).ConfigureAwait(false);
            }

            try
            {
                await using var db = await server.OpenAsync(admin.MaintenanceDatabase, cancellationToken).ConfigureAwait(false);
                await using var transaction = await db.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await WorkingDatabases.UnmarkAsync(db, staging, cancellationToken).ConfigureAwait(false);
                foreach (var (from, to) in renames)
                {
                    await ExecuteAsync(db, $"ALTER DATABASE {DatabaseAdmin.QuoteIdentifier(from)} RENAME TO {DatabaseAdmin.QuoteIdentifier(to)}", cancellationToken).ConfigureAwait(false);
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.ObjectInUse && attempt < Attempts)
            {
                // "database is being accessed by other users": someone reconnected; disconnect again.
            }
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection db, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, db);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
