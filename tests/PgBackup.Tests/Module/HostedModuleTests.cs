using System.Management.Automation;
using System.Management.Automation.Runspaces;
using PgBackup.Tests.Integration;
using PgBackup.TestSupport;

namespace PgBackup.Tests.Module;

/// <summary>The built module (out/PgBackup, staged by build.ps1), hosted in-process through the PowerShell SDK.</summary>
[Collection(PostgresCollection.Name)]
public class HostedModuleTests(PostgresFixture pg) : IDisposable
{
    private readonly TempFolder _repository = new();

    public void Dispose() => _repository.Dispose();

    public static string ModulePath
    {
        get
        {
            var path = Environment.GetEnvironmentVariable("PGBACKUP_MODULE_PATH") is { Length: > 0 } fromBuild
                ? fromBuild
                : Path.Combine(TestEnvironment.RepositoryRoot, "out", "PgBackup", "PgBackup.psd1");
            return File.Exists(path) ? path : throw new InvalidOperationException($"The module is not staged at {path}: run ./build.ps1 Build first.");
        }
    }

    public static PowerShell CreateShell()
    {
        var state = InitialSessionState.CreateDefault2();
        state.ImportPSModule([ModulePath]);
        return PowerShell.Create(state);
    }

    [Fact]
    public void Exported_cmdlets_declare_their_output_types()
    {
        using var shell = CreateShell();
        var newBackup = shell.AddCommand("Get-Command").AddArgument("New-PgBackup").Invoke<CommandInfo>().Single();

        Assert.Equal("PgBackup.BackupInfo", Assert.Single(newBackup.OutputType).Name);
        Assert.Equal("PgBackup", newBackup.ModuleName);
    }

    [Fact]
    public async Task Ctrl_C_midway_stops_the_pipeline_and_leaves_nothing_in_the_repository()
    {
        var database = PostgresFixture.UniqueName("stop");
        await pg.Cluster.CreateDatabaseAsync(database);
        await pg.Cluster.PsqlAsync(database, "CREATE TABLE big AS SELECT g, md5(g::text) AS p FROM generate_series(1, 1000) g;");
        await using var heldLock = await pg.Cluster.HoldExclusiveLockAsync(database, "big");
        using var shell = CreateShell();
        shell.AddCommand("New-PgBackup")
            .AddParameter("Database", database)
            .AddParameter("Repository", _repository.Path)
            .AddParameter("ConnectionString", pg.Cluster.ConnectionUri());

        var invocation = shell.BeginInvoke();
        await pg.Cluster.WaitForBlockedDumpAsync(database);
        Assert.Single(Directory.GetFiles(_repository.Path, "*.partial", SearchOption.AllDirectories));
        shell.Stop();

        Assert.True(invocation.IsCompleted);
        Assert.Equal(PSInvocationState.Stopped, shell.InvocationStateInfo.State);
        Assert.Empty(Directory.GetFiles(_repository.Path, "*", SearchOption.AllDirectories));
        Assert.Null(LocalProcesses.Find("pg_dump", database));
    }
}
