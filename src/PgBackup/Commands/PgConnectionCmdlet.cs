using System.Management.Automation;
using PgBackup.Connection;

namespace PgBackup.Commands;

/// <summary>The connection parameters shared by every cmdlet that talks to a PostgreSQL server.</summary>
public abstract class PgConnectionCmdlet : PgBackupCmdlet
{
    /// <summary>Server host name, IP address or Unix-socket folder (also host:port).</summary>
    [Parameter]
    [Alias("Host")]
    [ValidateNotNullOrEmpty]
    public string? Server { get; set; }

    [Parameter]
    [ValidateRange(1, 65535)]
    public int? Port { get; set; }

    [Parameter]
    [Credential]
    public PSCredential? Credential { get; set; }

    /// <summary>libpq URI, key=value string, or SQLAlchemy URL (postgresql+asyncpg://…).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ConnectionString { get; set; }

    private protected PgConnectionSettings ResolveConnection()
    {
        var connection = ConnectionResolver.Resolve(new ConnectionOptions
        {
            Server = Server,
            Port = Port,
            Username = Credential?.UserName,
            Password = Credential?.GetNetworkCredential().Password,
            ConnectionString = ConnectionString,
        });
        Audit.Server = connection.ServerDisplay;
        Audit.AddSecret(connection.Password);
        return connection;
    }
}
