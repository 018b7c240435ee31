using PgBackup.Connection;
using PgBackup.PgTools;

namespace PgBackup.Tests.Unit;

/// <summary>What a PostgreSQL client child inherits: an allow-list, plus the connection variables PgBackup passes itself.</summary>
public class ChildEnvironmentTests
{
    private static Dictionary<string, string?> Session() => new()
    {
        ["PATH"] = "/usr/bin",
        ["HOME"] = "/home/ops",
        ["LANG"] = "de_DE.UTF-8",
        ["LC_MESSAGES"] = "C",
        ["TZ"] = "Europe/Berlin",
        ["TMPDIR"] = "/var/tmp",
        ["PGSSLROOTCERT"] = "/etc/ssl/corp-ca.pem",
        ["PGOPTIONS"] = "-c statement_timeout=0",
        ["PGCONNECT_TIMEOUT"] = "5",
        // The user's own connection variables: PgBackup resolved them already and passes what applies.
        ["PGPASSWORD"] = "from-the-session",
        ["PGHOST"] = "elsewhere",
        ["PGSERVICE"] = "prod",
        ["PGBACKUP_REPOSITORY"] = "https://acct.blob.core.windows.net/c?sig=secret",
        ["AWS_ACCESS_KEY_ID"] = "AKID",
        ["AWS_SECRET_ACCESS_KEY"] = "aws-secret",
        ["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "aws-container-token",
        ["AZURE_STORAGE_KEY"] = "azure-key",
        ["GITHUB_TOKEN"] = "ghp_x",
        ["DATABASE_URL"] = "postgresql://u:pw@h/db",
    };

    [Fact]
    public void A_child_keeps_what_a_client_program_uses_and_nothing_else()
    {
        var environment = Session();

        PgProcess.KeepOnlyInheritable(environment);

        Assert.Equal(
            ["HOME", "LANG", "LC_MESSAGES", "PATH", "PGCONNECT_TIMEOUT", "PGOPTIONS", "PGSSLROOTCERT", "TMPDIR", "TZ"],
            environment.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void The_password_and_pass_file_reach_a_child_only_when_the_connection_passes_them()
    {
        var withPassword = Session();
        PgProcess.KeepOnlyInheritable(withPassword);
        PgProcess.ApplyConnectionEnvironment(withPassword, new PgConnectionSettings { Host = "db", Port = 5433, Username = "ops", Password = "resolved" });
        var withPassFile = Session();
        PgProcess.KeepOnlyInheritable(withPassFile);
        PgProcess.ApplyConnectionEnvironment(withPassFile, new PgConnectionSettings { Host = "db", Port = 5433, Username = "ops", PassFile = "/home/ops/.pgpass" });

        Assert.Equal("resolved", withPassword["PGPASSWORD"]);
        Assert.False(withPassword.ContainsKey("PGPASSFILE"));
        Assert.Equal("db", withPassword["PGHOST"]);
        Assert.False(withPassword.ContainsKey("PGSERVICE"));
        Assert.False(withPassFile.ContainsKey("PGPASSWORD"));
        Assert.Equal("/home/ops/.pgpass", withPassFile["PGPASSFILE"]);
    }
}
