using Npgsql;
using PgBackup.Server;

namespace PgBackup.Restore;

/// <summary>
/// Swaps a freshly restored staging database in for a live one: both renames run in one
/// transaction (ALTER DATABASE … RENAME is transactional), so either both happen or neither does —
/// if the second rename fails the first is rolled back and the live database keeps its name.
/// </summary>
internal static class DatabaseSwap
{
    // A client may reconnect between terminating its session and the rename; a few tries settle it.
    private const int Attempts = 5;

    /// <summary>Renames <paramref name="target"/> to <paramref name="previous"/> and <paramref name="staging"/> to <paramref name="target"/>.</summary>
    public static async Task SwapAsync(PgServer server, string target, string staging, string previous, CancellationToken cancellationToken)
    {
        var admin = new DatabaseAdmin(server);
        for (var attempt = 1; ; attempt++)
        {
            await admin.TerminateSessionsAsync(target, cancellationToken).ConfigureAwait(false);
            await admin.TerminateSessionsAsync(staging, cancellationToken).ConfigureAwait(false);
            try
            {
                await using var db = await server.OpenAsync(admin.MaintenanceDatabase, cancellationToken).ConfigureAwait(false);
                await using var transaction = await db.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(db, $"ALTER DATABASE {DatabaseAdmin.QuoteIdentifier(target)} RENAME TO {DatabaseAdmin.QuoteIdentifier(previous)}", cancellationToken).ConfigureAwait(false);
                await ExecuteAsync(db, $"ALTER DATABASE {DatabaseAdmin.QuoteIdentifier(staging)} RENAME TO {DatabaseAdmin.QuoteIdentifier(target)}", cancellationToken).ConfigureAwait(false);
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
