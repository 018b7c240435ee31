using Npgsql;
using PgBackup.Connection;
using PgBackup.Errors;
using PgBackup.PgTools;

namespace PgBackup.Server;

/// <summary>
/// Npgsql connection strings from resolved settings, and connection failures turned into the typed errors users
/// script against (ConnectionFailed, AuthenticationFailed, DatabaseNotFound). Connections are opened through
/// <see cref="PgServer"/>.
/// </summary>
internal static class PgServerConnection
{
    public static string BuildConnectionString(PgConnectionSettings settings, string? database = null)
    {
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = settings.Host,
            Port = settings.Port,
            Username = settings.EffectiveUsername,
            Database = database ?? settings.Database ?? "postgres",
            ApplicationName = "pgbackup",
            Timeout = 15,
            CommandTimeout = 0,
        };
        if (!string.IsNullOrEmpty(settings.Password))
        {
            builder.Password = settings.Password;
        }

        if (!string.IsNullOrEmpty(settings.PassFile))
        {
            builder.Passfile = settings.PassFile;
        }

        if (!string.IsNullOrEmpty(settings.SslMode))
        {
            builder.SslMode = ParseSslMode(settings.SslMode);
        }

        return builder.ConnectionString;
    }

    /// <summary>The server's version, as reported by server_version_num.</summary>
    public static async Task<PgToolVersion> GetServerVersionAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT current_setting('server_version_num')::int, current_setting('server_version')", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        return PgToolVersion.FromServerVersionNumber(reader.GetInt32(0), reader.GetString(1));
    }

    /// <summary>Maps a connection-time exception to the typed error a user can act on.</summary>
    public static PgBackupException Translate(Exception exception, PgConnectionSettings settings, string database)
    {
        var where = $"{settings.EffectiveUsername}@{settings.ServerDisplay}";
        var redactor = new Diagnostics.SecretRedactor([settings.Password]);
        var detail = redactor.Redact(exception.Message);
        switch (exception)
        {
            case PostgresException { SqlState: PostgresErrorCodes.InvalidCatalogName }:
                return new DatabaseNotFoundException($"Database \"{database}\" does not exist on {settings.ServerDisplay}.", database, exception);
            case PostgresException { SqlState: PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification } pg:
                return new AuthenticationFailedException($"Authentication failed for {where}: {redactor.Redact(pg.MessageText)}", settings.ServerDisplay, exception);
            case PostgresException pg:
                return new ConnectionFailedException($"The server {settings.ServerDisplay} refused the connection: {redactor.Redact(pg.MessageText)} ({pg.SqlState})", settings.ServerDisplay, exception);
            case NpgsqlException when detail.Contains("password", StringComparison.OrdinalIgnoreCase):
                return new AuthenticationFailedException($"Authentication failed for {where}: {detail}", settings.ServerDisplay, exception);
            default:
                var inner = exception.InnerException is { } i ? " " + redactor.Redact(i.Message) : string.Empty;
                return new ConnectionFailedException($"Cannot connect to {settings.ServerDisplay}: {detail}{inner}", settings.ServerDisplay, exception);
        }
    }

    private static SslMode ParseSslMode(string value)
    {
        var normalized = value.Replace("-", string.Empty, StringComparison.Ordinal);
        return Enum.TryParse<SslMode>(normalized, ignoreCase: true, out var mode)
            ? mode
            : throw new InvalidConnectionStringException("The sslmode value is not one PostgreSQL knows (expected disable, allow, prefer, require, verify-ca or verify-full).");
    }
}
