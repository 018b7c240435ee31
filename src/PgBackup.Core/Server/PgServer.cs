using System.Net.Sockets;
using Npgsql;
using PgBackup.Connection;

namespace PgBackup.Server;

/// <summary>
/// One operation's connections to one server: a pooled NpgsqlDataSource per database, so the many short
/// statements of an operation (exists, create, version, terminate, rename, drop…) share a physical connection
/// instead of opening one each. DDL that needs a database free (DROP, RENAME) first releases this operation's own
/// pooled connections to it (<see cref="ReleaseConnections"/>): an idle one would make PostgreSQL refuse.
/// Disposing closes every connection it opened.
/// </summary>
internal sealed class PgServer(PgConnectionSettings settings) : IAsyncDisposable
{
    private readonly Dictionary<string, NpgsqlDataSource> _sources = new(StringComparer.Ordinal);

    public PgConnectionSettings Settings => settings;

    /// <summary>Opens a connection to <paramref name="database"/> (default: the settings' database, else "postgres").</summary>
    public async Task<NpgsqlConnection> OpenAsync(string? database, CancellationToken cancellationToken)
    {
        var target = database ?? settings.Database ?? "postgres";
        try
        {
            return await SourceFor(target).OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or SocketException)
        {
            throw PgServerConnection.Translate(ex, settings, target);
        }
    }

    /// <summary>Closes this operation's idle connections to a database now, and its busy ones when they are returned.</summary>
    public void ReleaseConnections(string database)
    {
        lock (_sources)
        {
            if (_sources.TryGetValue(database, out var source))
            {
                source.Clear();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        List<NpgsqlDataSource> sources;
        lock (_sources)
        {
            sources = [.. _sources.Values];
            _sources.Clear();
        }

        foreach (var source in sources)
        {
            await source.DisposeAsync().ConfigureAwait(false);
        }
    }

    private NpgsqlDataSource SourceFor(string database)
    {
        lock (_sources)
        {
            if (!_sources.TryGetValue(database, out var source))
            {
                source = NpgsqlDataSource.Create(PgServerConnection.BuildConnectionString(settings, database));
                _sources.Add(database, source);
            }

            return source;
        }
    }
}
