using Npgsql;

namespace PgBackup.Server;

/// <summary>
/// Database-level DDL (exists, create, drop, terminate sessions) and catalogue queries, on one server's pooled connections.
/// Every identifier is quoted: hostile names (quotes, spaces, unicode, 63 bytes) work and inject nothing.
/// </summary>
internal sealed class DatabaseAdmin(PgServer server)
{
    /// <summary>The maintenance database the DDL runs in.</summary>
    public string MaintenanceDatabase { get; init; } = "postgres";

    /// <summary>NAMEDATALEN - 1: the longest identifier PostgreSQL keeps as given (it silently truncates longer ones).</summary>
    public const int MaxIdentifierBytes = 63;

    public static string QuoteIdentifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    public async Task<bool> ExistsAsync(string database, CancellationToken cancellationToken)
    {
        await using var db = await OpenMaintenanceAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT 1 FROM pg_database WHERE datname = $1", db) { Parameters = { new() { Value = database } } };
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not null;
    }

    public async Task CreateAsync(string database, CancellationToken cancellationToken)
    {
        // template0: a restore must start from an empty database, whatever template1 holds.
        await ExecuteAsync($"CREATE DATABASE {QuoteIdentifier(database)} TEMPLATE template0", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Drops a database if it exists, disconnecting its sessions (ours included) first.</summary>
    public async Task DropIfExistsAsync(string database, CancellationToken cancellationToken)
    {
        await TerminateSessionsAsync(database, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync($"DROP DATABASE IF EXISTS {QuoteIdentifier(database)}", cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Disconnects every session in a database: other clients' and this operation's own pooled ones.</summary>
    public async Task TerminateSessionsAsync(string database, CancellationToken cancellationToken)
    {
        server.ReleaseConnections(database);
        await using var db = await OpenMaintenanceAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            db) { Parameters = { new() { Value = database } } };
        await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A database's size on disk (pg_database_size), or null when it cannot be read now (gone, no privilege, server busy or away).</summary>
    public async Task<long?> TrySizeAsync(string database, CancellationToken cancellationToken)
    {
        try
        {
            await using var db = await OpenMaintenanceAsync(cancellationToken).ConfigureAwait(false);
            await using var command = new NpgsqlCommand("SELECT pg_database_size($1::name)", db) { Parameters = { new() { Value = database } } };
            return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is long size ? size : null;
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or Errors.PgBackupException)
        {
            return null;
        }
    }

    /// <summary>Lists database names matching a LIKE pattern (e.g. <c>pgbackup_verify_%</c>).</summary>
    public async Task<IReadOnlyList<string>> ListDatabasesAsync(string likePattern, CancellationToken cancellationToken)
    {
        await using var db = await OpenMaintenanceAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY 1", db) { Parameters = { new() { Value = likePattern } } };
        var names = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }

    /// <summary>The user tables of a database (ordinary and partitioned parents, not partitions).</summary>
    public static async Task<IReadOnlyList<TableName>> ListTablesAsync(NpgsqlConnection db, CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT n.nspname, c.relname
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
              AND NOT c.relispartition
            ORDER BY 1
            """;
        await using var command = new NpgsqlCommand(sql, db);
        var tables = new List<TableName>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            tables.Add(new TableName(reader.GetString(0), reader.GetString(1)));
        }

        return tables;
    }

    /// <summary>
    /// Exact <c>count(*)</c> of each table, in the connection's current transaction/snapshot, keyed
    /// by <see cref="TableName.Key"/> (the form manifests store).
    /// </summary>
    public static async Task<Dictionary<string, long>> CountRowsAsync(NpgsqlConnection db, IEnumerable<TableName> tables, CancellationToken cancellationToken)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var table in tables)
        {
            await using var command = new NpgsqlCommand($"SELECT count(*) FROM {table.Quoted}", db);
            counts[table.Key] = (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }

        return counts;
    }

    private async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        await using var db = await OpenMaintenanceAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(sql, db);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public Task<NpgsqlConnection> OpenMaintenanceAsync(CancellationToken cancellationToken)
        => server.OpenAsync(MaintenanceDatabase, cancellationToken);
}
