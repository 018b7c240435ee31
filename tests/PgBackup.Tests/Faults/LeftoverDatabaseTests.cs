using PgBackup.Restore;
using PgBackup.Server;
using PgBackup.Storage;
using PgBackup.Tests.Integration;
using PgBackup.Verification;

namespace PgBackup.Tests.Faults;

/// <summary>
/// Databases an interrupted restore or test leaves (issue 9.8): the next Restore-PgBackup / Test-PgBackup
/// -Level Restore on that server warns about each one older than an hour, naming it and its age, and drops
/// it when asked (-Force). Younger ones, unmarked look-alikes and databases in use are left alone.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class LeftoverDatabaseTests(PostgresFixture postgres) : IAsyncLifetime
{
    private readonly TempFolder _repository = new();
    private readonly List<string> _databases = [];
    private string _source = string.Empty;

    public async Task InitializeAsync()
    {
        _source = PostgresFixture.UniqueName("leftover_src");
        await postgres.Cluster.PsqlAsync("postgres", $"CREATE DATABASE {DatabaseAdmin.QuoteIdentifier(_source)};");
        await postgres.Cluster.PsqlAsync(_source, "CREATE TABLE t (id int); INSERT INTO t VALUES (1);");
    }

    public async Task DisposeAsync()
    {
        // Whatever happened: other tests on this server assert that no working database is left.
        foreach (var database in _databases)
        {
            await postgres.Cluster.PsqlAsync("postgres", $"DROP DATABASE IF EXISTS {DatabaseAdmin.QuoteIdentifier(database)};");
        }

        _repository.Dispose();
    }

    [Fact]
    public async Task Restore_reports_old_leftovers_by_name_and_age_and_drops_them_only_with_force()
    {
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var old = await LeftoverAsync($"it's \"old\" ü_restoring_{suffix}", TimeSpan.FromHours(2) + TimeSpan.FromMinutes(5));
        var young = await LeftoverAsync($"young_restoring_{suffix}", TimeSpan.FromMinutes(10));
        var unmarked = $"users_own_restoring_{suffix}";
        _databases.Add(unmarked);
        await postgres.Cluster.PsqlAsync("postgres", $"CREATE DATABASE {DatabaseAdmin.QuoteIdentifier(unmarked)};");
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, _source);

        var log = new RecordingLog();
        await RestoreAsync(backup, log, dropLeftovers: false);

        var warning = Assert.Single(log.Messages, m => m.StartsWith("WARNING:", StringComparison.Ordinal) && m.Contains(old, StringComparison.Ordinal));
        Assert.Contains("2h 05m", warning, StringComparison.Ordinal);
        Assert.Contains("-Force", warning, StringComparison.Ordinal);
        Assert.DoesNotContain(log.Messages, m => m.StartsWith("WARNING:", StringComparison.Ordinal) && (m.Contains(young, StringComparison.Ordinal) || m.Contains(unmarked, StringComparison.Ordinal)));
        Assert.Contains(old, await postgres.Cluster.ListDatabasesAsync());

        log = new RecordingLog();
        await RestoreAsync(backup, log, dropLeftovers: true);

        var databases = await postgres.Cluster.ListDatabasesAsync();
        Assert.DoesNotContain(old, databases);
        Assert.Contains(young, databases);
        Assert.Contains(unmarked, databases);
        Assert.Contains(log.Messages, m => m.StartsWith("WARNING: Dropped", StringComparison.Ordinal) && m.Contains(old, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Test_level_restore_reports_and_with_force_drops_an_old_verify_database()
    {
        var old = await LeftoverAsync(TemporaryDatabaseName.Create("we \"ird\" ü"), TimeSpan.FromHours(3));
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, _source);

        var log = new RecordingLog();
        var result = await TestAsync(backup, log, dropLeftovers: false);

        Assert.True(result.Passed, result.DescribeFailures());
        Assert.Contains(log.Messages, m => m.StartsWith("WARNING:", StringComparison.Ordinal) && m.Contains(old, StringComparison.Ordinal) && m.Contains("3h 00m", StringComparison.Ordinal));
        Assert.Contains(old, await postgres.Cluster.ListDatabasesAsync());

        await TestAsync(backup, new RecordingLog(), dropLeftovers: true);

        Assert.DoesNotContain(old, await postgres.Cluster.ListDatabasesAsync());
    }

    [Fact]
    public async Task A_successful_restore_or_kept_test_database_is_not_a_leftover()
    {
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, _source);
        var target = PostgresFixture.UniqueName("leftover_done");
        _databases.Add(target);
        await new RestoreService().RunAsync(Request(backup, target, dropLeftovers: false), CancellationToken.None);
        var kept = await new BackupVerifier().VerifyAsync(
            new VerificationRequest { Backup = backup, Repository = new LocalRepository(backup.Repository), Level = TestLevel.Restore, Connection = postgres.Connection(), KeepDatabase = true },
            CancellationToken.None);
        _databases.Add(kept.TemporaryDatabase!);

        Assert.Contains(target, await postgres.Cluster.ListDatabasesAsync());
        Assert.Contains(kept.TemporaryDatabase!, await postgres.Cluster.ListDatabasesAsync());
        Assert.Equal(string.Empty, await CommentAsync(target));
        Assert.Equal(string.Empty, await CommentAsync(kept.TemporaryDatabase!));
    }

    /// <summary>A database marked the way PgBackup marks its working databases, created <paramref name="age"/> ago.</summary>
    private async Task<string> LeftoverAsync(string name, TimeSpan age)
    {
        _databases.Add(name);
        await postgres.Cluster.PsqlAsync("postgres", $"CREATE DATABASE {DatabaseAdmin.QuoteIdentifier(name)};");
        var comment = WorkingDatabases.Marker(DateTime.UtcNow - age);
        await postgres.Cluster.PsqlAsync("postgres", $"COMMENT ON DATABASE {DatabaseAdmin.QuoteIdentifier(name)} IS '{comment}';");
        return name;
    }

    private async Task<string> CommentAsync(string database)
        => (await postgres.Cluster.PsqlAsync("postgres", $"SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = '{database.Replace("'", "''", StringComparison.Ordinal)}';")).Trim();

    private async Task RestoreAsync(BackupInfo backup, RecordingLog log, bool dropLeftovers)
    {
        var target = PostgresFixture.UniqueName("leftover_new");
        _databases.Add(target);
        await new RestoreService(log: log).RunAsync(Request(backup, target, dropLeftovers), CancellationToken.None);
    }

    private RestoreRequest Request(BackupInfo backup, string target, bool dropLeftovers) => new()
    {
        Backup = backup,
        Repository = new LocalRepository(backup.Repository),
        Connection = postgres.Connection(),
        TargetDatabase = target,
        DropLeftovers = dropLeftovers,
    };

    private Task<TestResult> TestAsync(BackupInfo backup, RecordingLog log, bool dropLeftovers)
        => new BackupVerifier(log: log).VerifyAsync(
            new VerificationRequest { Backup = backup, Repository = new LocalRepository(backup.Repository), Level = TestLevel.Restore, Connection = postgres.Connection(), DropLeftovers = dropLeftovers },
            CancellationToken.None);
}
