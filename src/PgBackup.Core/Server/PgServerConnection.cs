using System.Net.Sockets;
using Npgsql;
using PgBackup.Connection;
using PgBackup.Errors;
using PgBackup.PgTools;

namespace PgBackup.Server;

/// <summary>
/// Opens Npgsql connections from resolved settings and turns connection failures into the typed
/// errors users script against (ConnectionFailed, AuthenticationFailed, DatabaseNotFound).
/// </summary>
public static class PgServerConnection
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
            // DROP/RENAME DATABASE fail while an idle pooled connection still sits in the database.
            Pooling = false,
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

    /// <summary>Opens a connection to <paramref name="database"/> (default: the settings' database, else "postgres").</summary>
    public static async Task<NpgsqlConnection> OpenAsync(PgConnectionSettings settings, string? database, CancellationToken cancellationToken)
    {
        var target = database ?? settings.Database ?? "postgres";
        var connection = new NpgsqlConnection(BuildConnectionString(settings, target));
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or SocketException)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw Translate(ex, settings, target);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
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
            : throw new InvalidConnectionStringException($"Unknown sslmode \"{value}\" (expected disable, allow, prefer, require, verify-ca or verify-full).");
    }
}
