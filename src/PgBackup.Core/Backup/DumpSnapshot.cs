using System.Data;
using Npgsql;
using PgBackup.Server;

namespace PgBackup.Backup;

/// <summary>
/// A REPEATABLE READ transaction whose snapshot is exported for pg_dump (<c>--snapshot</c>) and in
/// which every table's rows are counted: the counts describe exactly the data the dump contains,
/// however the tables change meanwhile. The transaction must stay open until pg_dump has finished
/// (pg_dump imports the snapshot when it starts); disposing ends it.
/// </summary>
internal sealed class DumpSnapshot : IAsyncDisposable
{
    private readonly NpgsqlConnection _connection;
    private readonly NpgsqlTransaction _transaction;

    private DumpSnapshot(NpgsqlConnection connection, NpgsqlTransaction transaction, string id, IReadOnlyDictionary<string, long> rowCounts)
    {
        _connection = connection;
        _transaction = transaction;
        Id = id;
        RowCounts = rowCounts;
    }

    /// <summary>The exported snapshot's id, for <c>pg_dump --snapshot</c>.</summary>
    public string Id { get; }

    /// <summary>Exact <c>count(*)</c> per table (keyed by <see cref="TableName.Key"/>) in the snapshot.</summary>
    public IReadOnlyDictionary<string, long> RowCounts { get; }

    public static async Task<DumpSnapshot> BeginAsync(PgServer server, string database, CancellationToken cancellationToken)
    {
        var db = await server.OpenAsync(database, cancellationToken).ConfigureAwait(false);
        NpgsqlTransaction? transaction = null;
        try
        {
            transaction = await db.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken).ConfigureAwait(false);
            string id;
            // The snapshot is taken by the transaction's first statement: export it before anything else.
            await using (var export = new NpgsqlCommand("SELECT pg_export_snapshot()", db, transaction))
            {
                id = (string)(await export.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            }

            var tables = await DumpedTables.ListAsync(db, cancellationToken).ConfigureAwait(false);
            var counts = await DatabaseAdmin.CountRowsAsync(db, tables, cancellationToken).ConfigureAwait(false);
            return new DumpSnapshot(db, transaction, id, counts);
        }
        catch
        {
            if (transaction is not null)
            {
                await transaction.DisposeAsync().ConfigureAwait(false);
            }

            await db.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Read-only work: ending the transaction by rollback is all that is needed.
        await _transaction.DisposeAsync().ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
    }
}
