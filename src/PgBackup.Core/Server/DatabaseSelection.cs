using Npgsql;
using PgBackup.Catalog;
using PgBackup.Errors;

namespace PgBackup.Server;

/// <summary>A database as the server lists it (pg_database).</summary>
internal sealed record ServerDatabase(string Name, bool AllowsConnections, bool IsTemplate)
{
    /// <summary>What -AllDatabases and wildcards take: a database one can connect to that is not a template.</summary>
    public bool IsBackupCandidate => AllowsConnections && !IsTemplate;
}

/// <summary>What New-PgBackup was asked to back up.</summary>
internal sealed record DatabaseSelectionRequest
{
    /// <summary>Names and wildcards (<c>*</c>, <c>?</c>, <c>[abc]</c>; case-sensitive, as PostgreSQL names are).</summary>
    public IReadOnlyList<string> Databases { get; init; } = [];

    /// <summary>Every database that allows connections, templates excluded.</summary>
    public bool AllDatabases { get; init; }

    /// <summary>Wildcards of databases to leave out (of -AllDatabases and of wildcard matches alike).</summary>
    public IReadOnlyList<string> Exclude { get; init; } = [];

    /// <summary>True when a name must be checked against the server's list (a wildcard, -AllDatabases).</summary>
    public bool NeedsServerList => AllDatabases || Databases.Any(DatabaseSelection.IsWildcard);
}

/// <summary>
/// Turns names, wildcards, -AllDatabases and -ExcludeDatabase into the databases to back up, before anything is
/// written: a name the server does not have and a wildcard without a match are the user's mistakes, refused with
/// their own ErrorIds (DatabaseNotFound, NoDatabaseMatched) so they never become "Failed backups" in the
/// repository. The choice itself (<see cref="Select"/>) is pure.
/// </summary>
internal static class DatabaseSelection
{
    public static bool IsWildcard(string name) => name.AsSpan().IndexOfAny('*', '?', '[') >= 0;

    /// <summary>The databases to back up, in the order asked (server order for -AllDatabases and each wildcard), each once.</summary>
    /// <param name="server">The server's databases; null when they could not be listed (only plain names are then taken as given).</param>
    public static IReadOnlyList<string> Select(DatabaseSelectionRequest request, IReadOnlyList<ServerDatabase>? server, string serverDisplay)
    {
        var excluded = request.Exclude.Select(WildcardMatcher.Create).ToArray();
        bool Excluded(string name) => excluded.Any(matches => matches(name));
        var chosen = new List<string>();
        void Add(string name)
        {
            if (!Excluded(name) && !chosen.Contains(name, StringComparer.Ordinal))
            {
                chosen.Add(name);
            }
        }

        if (server is null && request.NeedsServerList)
        {
            throw new ConnectionFailedException(
                $"Cannot list the databases of {serverDisplay} to expand -AllDatabases or a wildcard: the connection's database, postgres and template1 all refused this role. Name the databases instead.",
                serverDisplay);
        }

        var candidates = server?.Where(database => database.IsBackupCandidate).Select(database => database.Name).ToList();
        if (request.AllDatabases)
        {
            foreach (var name in candidates!)
            {
                Add(name);
            }
        }

        foreach (var asked in request.Databases)
        {
            if (IsWildcard(asked))
            {
                var matches = WildcardMatcher.Create(asked);
                var matched = candidates!.Where(name => matches(name)).ToList();
                if (matched.Count == 0)
                {
                    throw new NoDatabaseMatchedException(
                        $"No database on {serverDisplay} matches \"{asked}\" (wildcards match databases that allow connections, templates excluded; names are case-sensitive). Nothing was backed up.", asked);
                }

                matched.ForEach(Add);
            }
            else if (server is not null && !server.Any(database => string.Equals(database.Name, asked, StringComparison.Ordinal)))
            {
                throw new DatabaseNotFoundException($"Database \"{asked}\" does not exist on {serverDisplay} (names are case-sensitive). Nothing was backed up.", asked);
            }
            else
            {
                Add(asked);
            }
        }

        if (chosen.Count == 0 && (request.AllDatabases || request.Databases.Count > 0))
        {
            throw new NoDatabaseMatchedException(
                $"-ExcludeDatabase {string.Join(", ", request.Exclude)} leaves no database of {serverDisplay} to back up. Nothing was backed up.", string.Join(", ", request.Exclude));
        }

        return chosen;
    }

    /// <summary>
    /// The server's databases, read through the connection's database, else "postgres", else "template1". Null when
    /// none of them lets us in for a reason of its own (missing, no CONNECT right): plain names are then taken as
    /// given and a missing one fails as its backup. A server that is down or refuses the login throws.
    /// </summary>
    public static async Task<IReadOnlyList<ServerDatabase>?> ListAsync(PgServer server, CancellationToken cancellationToken)
    {
        foreach (var database in new[] { server.Settings.Database, "postgres", "template1" }.OfType<string>().Distinct(StringComparer.Ordinal))
        {
            NpgsqlConnection connection;
            try
            {
                connection = await server.OpenAsync(database, cancellationToken).ConfigureAwait(false);
            }
            catch (PgBackupException ex) when (ex is DatabaseNotFoundException || (ex.InnerException is PostgresException { SqlState: "42501" }))
            {
                continue;
            }

            await using (connection.ConfigureAwait(false))
            {
                await using var command = new NpgsqlCommand("SELECT datname, datallowconn, datistemplate FROM pg_database ORDER BY datname", connection);
                await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                var databases = new List<ServerDatabase>();
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    databases.Add(new ServerDatabase(reader.GetString(0), reader.GetBoolean(1), reader.GetBoolean(2)));
                }

                return databases;
            }
        }

        return null;
    }
}
