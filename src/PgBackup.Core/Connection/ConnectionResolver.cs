using System.Globalization;
using PgBackup.Errors;

namespace PgBackup.Connection;

/// <summary>
/// Applies the documented precedence, field by field: explicit parameters, then -ConnectionString
/// (or, when none, <c>DATABASE_URL</c>), then the libpq variables (PGHOST, PGPORT, PGUSER,
/// PGPASSWORD, PGDATABASE, PGPASSFILE, PGSSLMODE), then localhost:5432.
/// </summary>
internal static class ConnectionResolver
{
    public static PgConnectionSettings Resolve(ConnectionOptions options, Func<string, string?>? environment = null)
    {
        environment ??= System.Environment.GetEnvironmentVariable;

        var connectionString = !string.IsNullOrWhiteSpace(options.ConnectionString)
            ? options.ConnectionString
            : NullIfEmpty(environment("DATABASE_URL"));
        var parsed = connectionString is null
            ? new Dictionary<string, string>()
            : ConnectionStringParser.Parse(connectionString);

        string? FromString(string key) => parsed.TryGetValue(key, out var v) ? NullIfEmpty(v) : null;

        var host = NullIfEmpty(options.Server) ?? FromString("host") ?? NullIfEmpty(environment("PGHOST")) ?? PgConnectionSettings.DefaultHost;
        var portText = options.Port?.ToString(CultureInfo.InvariantCulture) ?? FromString("port") ?? NullIfEmpty(environment("PGPORT"));
        var port = PgConnectionSettings.DefaultPort;
        if (portText is not null && !(int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and < 65536))
        {
            throw new InvalidConnectionStringException($"Invalid port \"{portText}\".");
        }

        // "-Server host:port" is a common habit; accept it when no port was given separately.
        if (options.Port is null && options.Server is { } server && TrySplitHostPort(server, out var splitHost, out var splitPort))
        {
            host = splitHost;
            port = splitPort;
        }

        return new PgConnectionSettings
        {
            Host = host,
            Port = port,
            Username = NullIfEmpty(options.Username) ?? FromString("user") ?? NullIfEmpty(environment("PGUSER")),
            Password = NullIfEmpty(options.Password) ?? FromString("password") ?? NullIfEmpty(environment("PGPASSWORD")),
            Database = NullIfEmpty(options.Database) ?? FromString("dbname") ?? NullIfEmpty(environment("PGDATABASE")),
            SslMode = FromString("sslmode") ?? NullIfEmpty(environment("PGSSLMODE")),
            PassFile = FromString("passfile") ?? NullIfEmpty(environment("PGPASSFILE")),
        };
    }

    private static bool TrySplitHostPort(string server, out string host, out int port)
    {
        host = server;
        port = 0;
        if (server.StartsWith('/'))
        {
            return false;
        }

        if (server.StartsWith('['))
        {
            var close = server.IndexOf(']', StringComparison.Ordinal);
            if (close > 0 && close + 2 < server.Length && server[close + 1] == ':'
                && int.TryParse(server[(close + 2)..], NumberStyles.None, CultureInfo.InvariantCulture, out port))
            {
                host = server[1..close];
                return true;
            }

            return false;
        }

        var colon = server.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0 && colon == server.LastIndexOf(':')
            && int.TryParse(server[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port))
        {
            host = server[..colon];
            return true;
        }

        return false;
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
