using System.Management.Automation;
using System.Management.Automation.Runspaces;

namespace PgBackup.Module.Tests;

/// <summary>Runspaces that import the staged module by its manifest, the way users do.</summary>
public static class ModuleHost
{
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

    /// <summary>A property of an output object, read as a script would (the test knows none of the module's types).</summary>
    public static T Property<T>(PSObject value, string name) => (T)LanguagePrimitives.ConvertTo(value.Properties[name]?.Value, typeof(T));
}

/// <summary>One throwaway trust-auth cluster for the hosted tests; fails (never skips) when PostgreSQL is missing.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private PostgresCluster? _cluster;

    public PostgresCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster is not started.");

    /// <summary>A database name no other test uses.</summary>
    public static string UniqueName(string prefix) => $"{prefix}_{Guid.NewGuid():N}"[..(prefix.Length + 9)];

    public async Task InitializeAsync() => _cluster = await PostgresCluster.StartAsync();

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class HostedCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "hosted module";
}

/// <summary>
/// Tests that set process environment variables (the module reads AWS credentials from the SDK chain): they run
/// alone, after every parallel collection, and restore what they changed.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironmentCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "process environment (hosted module)";
}
