using System.Management.Automation;
using System.Runtime.Loader;

namespace PgBackup.Module.Tests;

/// <summary>The built module (out/PgBackup, staged by build.ps1), hosted in-process through the PowerShell SDK.</summary>
[Collection(HostedCollection.Name)]
public sealed class HostedModuleTests(ClusterFixture pg) : IDisposable
{
    private readonly TempFolder _repository = new();

    public void Dispose() => _repository.Dispose();

    [Fact]
    public void Exported_cmdlets_declare_their_output_types()
    {
        using var shell = ModuleHost.CreateShell();
        var newBackup = shell.AddCommand("Get-Command").AddArgument("New-PgBackup").Invoke<CommandInfo>().Single();

        Assert.Equal("PgBackup.BackupInfo", Assert.Single(newBackup.OutputType).Name);
        Assert.Equal("PgBackup", newBackup.ModuleName);
    }

    [Fact]
    public async Task The_output_types_are_the_default_contexts_and_the_engine_loads_in_the_modules_own_context()
    {
        var database = ClusterFixture.UniqueName("hosted");
        await pg.Cluster.CreateDatabaseAsync(database);
        using var shell = ModuleHost.CreateShell();
        var backup = shell.AddCommand("New-PgBackup")
            .AddParameter("Database", database)
            .AddParameter("Repository", _repository.Path)
            .AddParameter("ConnectionString", pg.Cluster.ConnectionUri())
            .Invoke().Single();
        Assert.Empty(shell.Streams.Error);

        shell.Commands.Clear();
        var literal = shell.AddScript("[PgBackup.BackupInfo]").Invoke<Type>().Single();
        var outputType = backup.BaseObject.GetType();
        Assert.Equal("PgBackup.BackupInfo", outputType.FullName);
        Assert.Same(literal, outputType);
        Assert.Same(AssemblyLoadContext.Default, AssemblyLoadContext.GetLoadContext(outputType.Assembly));
        Assert.Equal("Succeeded", ModuleHost.Property<string>(backup, "Status"));

        // This test project references none of the module's assemblies: the engine came from dependencies/.
        var core = AppDomain.CurrentDomain.GetAssemblies().Single(a => a.GetName().Name == "PgBackup.Core");
        Assert.Equal("PgBackup", AssemblyLoadContext.GetLoadContext(core)?.Name);
        Assert.Equal(Path.Combine(Path.GetDirectoryName(ModuleHost.ModulePath)!, "dependencies", "PgBackup.Core.dll"), core.Location);
    }

    [Fact]
    public async Task Ctrl_C_midway_stops_the_pipeline_and_leaves_nothing_in_the_repository()
    {
        var database = ClusterFixture.UniqueName("stop");
        await pg.Cluster.CreateDatabaseAsync(database);
        await pg.Cluster.PsqlAsync(database, "CREATE TABLE big AS SELECT g, md5(g::text) AS p FROM generate_series(1, 1000) g;");
        await using var heldLock = await pg.Cluster.HoldExclusiveLockAsync(database, "big");
        using var shell = ModuleHost.CreateShell();
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
