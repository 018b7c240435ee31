using PgBackup.Backup;
using PgBackup.Connection;
using PgBackup.Restore;
using PgBackup.Storage;

namespace PgBackup.Tests.Integration;

/// <summary>
/// A restore's own statements (exists, staging name, version, create, terminate, swap) share pooled connections:
/// one per step (plan, run) to the maintenance database, not one per statement. Counted by the server itself
/// (log_connections) on a cluster of this class's own.
/// </summary>
public sealed class RestoreConnectionTests : IAsyncLifetime
{
    private PostgresCluster? _cluster;
    private readonly TempFolder _repository = new("pgbackup-restore-connections");

    private PostgresCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster is not started.");

    public async Task InitializeAsync() => _cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions { LogConnections = true });

    public async Task DisposeAsync()
    {
        _repository.Dispose();
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_replace_opens_one_maintenance_connection_per_step_and_leaves_none_open()
    {
        await Cluster.CreateDatabaseAsync("source");
        await Cluster.PsqlAsync("source", "CREATE TABLE t AS SELECT g FROM generate_series(1, 100) g;");
        await Cluster.CreateDatabaseAsync("live");
        var connection = new PgConnectionSettings { Host = Cluster.Host, Port = Cluster.Port, Username = PostgresCluster.Superuser };
        var repository = RepositoryFactory.Open(_repository.Path);
        var backup = await new BackupService().RunAsync(new BackupRequest { Database = "source", Connection = connection, Repository = repository }, CancellationToken.None);
        var service = new RestoreService();
        var request = new RestoreRequest { Backup = backup, Repository = repository, Connection = connection, TargetDatabase = "live" };
        var before = Cluster.CountLoggedConnections("postgres", "pgbackup");

        var plan = await service.PlanAsync(request, CancellationToken.None);
        var afterPlan = Cluster.CountLoggedConnections("postgres", "pgbackup");
        var result = await service.RunAsync(request, plan, CancellationToken.None);
        var afterRun = Cluster.CountLoggedConnections("postgres", "pgbackup");

        Assert.True(result.Replaced);
        Assert.Equal(1, afterPlan - before);
        Assert.Equal(1, afterRun - afterPlan);
        // The pools are gone with their operations: nothing of ours stays connected (a closed session's backend
        // leaves pg_stat_activity a moment after the client hung up).
        var sessions = "?";
        for (var attempt = 0; attempt < 50 && sessions != "0"; attempt++)
        {
            sessions = (await Cluster.PsqlAsync("postgres", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgbackup';")).Trim();
            if (sessions != "0")
            {
                await Task.Delay(100);
            }
        }

        Assert.Equal("0", sessions);
    }
}
