using System.Diagnostics;
using PgBackup.Catalog;
using PgBackup.Restore;
using PgBackup.Retention;
using PgBackup.Server;
using PgBackup.Storage;
using PgBackup.Tests.Integration;
using PgBackup.Verification;
using static PgBackup.Tests.Integration.RestoreTestSupport;

namespace PgBackup.Tests.Faults;

/// <summary>
/// kill -9 of a real, separate pwsh process running the staged module — during a backup, a Restore-level
/// test and a restore — at a moment made certain by the server (a dump waiting for a table lock, a restore
/// sleeping in a CHECK), never by a timer. The whole process group is killed (SIGKILL), so pg_dump,
/// pg_restore and psql die with it, as when a job's container or service is stopped. Then the next run
/// reports what was left and cleans it up.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class KillTests(PostgresFixture postgres) : IAsyncLifetime
{
    private readonly TempFolder _repository = new();
    private readonly List<string> _databases = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        // Whatever happened: other tests on this server assert that no working database is left.
        foreach (var database in _databases)
        {
            await postgres.Cluster.PsqlAsync("postgres", $"DROP DATABASE IF EXISTS {DatabaseAdmin.QuoteIdentifier(database)} WITH (FORCE);");
        }

        _repository.Dispose();
    }

    [Fact]
    public async Task A_backup_killed_midway_leaves_a_partial_artifact_and_no_manifest_which_retention_removes_a_day_later()
    {
        var database = PostgresFixture.UniqueName("kill_backup");
        _databases.Add(database);
        await postgres.Cluster.CreateNorthwindAsync(database);

        await using (await postgres.Cluster.HoldExclusiveLockAsync(database, "public.orders"))
        {
            using var job = KillableJob.Start($"New-PgBackup -Database {Quote(database)} -Repository {Quote(_repository.Path)} -ConnectionString {Quote(postgres.Cluster.ConnectionUri())}");
            // pg_dump waits for the lock with the artifact's .partial file already open: a known point midway.
            await job.WaitUntilAsync(async () => Partials().Count == 1 && await DumpIsWaitingAsync(database));
            job.Kill();
        }

        var partial = Assert.Single(Partials());
        Assert.Empty(Directory.EnumerateFiles(_repository.Path, "*" + BackupNaming.ManifestSuffix, SearchOption.AllDirectories));

        var repository = new LocalRepository(_repository.Path);
        var policy = new RetentionPolicy { KeepLast = 10 };
        var soon = await new RetentionService(clock: new FixedClock(DateTime.UtcNow.AddHours(1))).RunAsync(new RetentionRequest { Repository = repository, Policy = policy, IncludeIncomplete = true }, (_, _, _) => Task.FromResult(true), CancellationToken.None);
        Assert.Empty(soon.RemovedIncomplete);
        Assert.True(File.Exists(partial), "a backup that may still be running was removed");

        var dayLater = await new RetentionService(clock: new FixedClock(DateTime.UtcNow.AddHours(25))).RunAsync(new RetentionRequest { Repository = repository, Policy = policy, IncludeIncomplete = true }, (_, _, _) => Task.FromResult(true), CancellationToken.None);
        Assert.Single(dayLater.RemovedIncomplete);
        Assert.False(File.Exists(partial));
    }

    [Fact]
    public async Task A_restore_level_test_killed_midway_leaves_its_marked_verify_database_which_the_next_test_reports_and_drops_with_force()
    {
        var backup = await SlowBackupAsync();

        using (var job = KillableJob.Start($"Test-PgBackup -Path {Quote(backup.ManifestLocation)} -Level Restore -ConnectionString {Quote(postgres.Cluster.ConnectionUri())}"))
        {
            var restoring = await job.WaitForAsync(() => SleepingRestoreAsync());
            job.Kill();
            _databases.Add(restoring);
            Assert.StartsWith(TemporaryDatabaseName.Prefix, restoring, StringComparison.Ordinal);
        }

        var leftover = await LeftoverAfterKillAsync(TemporaryDatabaseName.Prefix);

        // The next test right away: the leftover is young (it may be a running job's) and is left alone.
        var log = new RecordingLog();
        await VerifyAsync(backup, log, force: true);
        Assert.Contains(leftover, await postgres.Cluster.ListDatabasesAsync());
        Assert.DoesNotContain(log.Messages, m => m.StartsWith("WARNING:", StringComparison.Ordinal) && m.Contains(leftover, StringComparison.Ordinal));

        await AgeAsync(leftover, TimeSpan.FromHours(2));
        log = new RecordingLog();
        await VerifyAsync(backup, log, force: false);
        Assert.Contains(log.Messages, m => m.StartsWith("WARNING: Leftover database", StringComparison.Ordinal) && m.Contains(leftover, StringComparison.Ordinal) && m.Contains("2h 00m", StringComparison.Ordinal));
        Assert.Contains(leftover, await postgres.Cluster.ListDatabasesAsync());

        await VerifyAsync(backup, new RecordingLog(), force: true);
        Assert.DoesNotContain(leftover, await postgres.Cluster.ListDatabasesAsync());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_restore_killed_midway_leaves_only_its_staging_database_never_a_half_restored_target(bool replace)
    {
        var backup = await SlowBackupAsync();
        var target = PostgresFixture.UniqueName("kill \"tgt\" ü");
        _databases.Add(target);
        string? before = null;
        if (replace)
        {
            await CreateOtherDataAsync(postgres.Cluster, target);
            before = await SnapshotAsync(postgres.Cluster, target);
        }

        using (var job = KillableJob.Start($"Restore-PgBackup -Path {Quote(backup.ManifestLocation)} -TargetDatabase {Quote(target)} -ConnectionString {Quote(postgres.Cluster.ConnectionUri())} -Force"))
        {
            var restoring = await job.WaitForAsync(() => SleepingRestoreAsync());
            job.Kill();
            _databases.Add(restoring);
            Assert.StartsWith(target + RestoreNaming.StagingMarker, restoring, StringComparison.Ordinal);
        }

        var staging = await LeftoverAfterKillAsync(target + RestoreNaming.StagingMarker);
        if (replace)
        {
            Assert.Equal(before, await SnapshotAsync(postgres.Cluster, target));
        }
        else
        {
            Assert.DoesNotContain(target, await postgres.Cluster.ListDatabasesAsync());
        }

        await AgeAsync(staging, TimeSpan.FromHours(1) + TimeSpan.FromMinutes(30));
        var other = PostgresFixture.UniqueName("kill_next");
        _databases.Add(other);
        var log = new RecordingLog();
        await new RestoreService(log: log).RunAsync(
            new RestoreRequest { Backup = backup, Repository = new LocalRepository(backup.Repository), Connection = postgres.Connection(), TargetDatabase = other, DropLeftovers = true },
            CancellationToken.None);

        Assert.Contains(log.Messages, m => m.StartsWith("WARNING: Dropped leftover database", StringComparison.Ordinal) && m.Contains(staging, StringComparison.Ordinal) && m.Contains("1h 30m", StringComparison.Ordinal));
        Assert.DoesNotContain(staging, await postgres.Cluster.ListDatabasesAsync());
    }

    private async Task<BackupInfo> SlowBackupAsync()
    {
        var source = PostgresFixture.UniqueName("kill_src");
        _databases.Add(source);
        // 20 rows sleep 5 s in all: a wide window to be caught in, and short for the runs after the kill.
        await CreateSlowToRestoreAsync(postgres.Cluster, source, rows: 20);
        return (await BackupAsync(postgres, source, _repository.Path)).Backup;
    }

    /// <summary>The one database named <paramref name="prefix"/>…, marked as PgBackup's, once nobody is connected to it any more.</summary>
    private async Task<string> LeftoverAfterKillAsync(string prefix)
    {
        var matching = (await postgres.Cluster.ListDatabasesAsync()).Where(d => d.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        var leftover = Assert.Single(matching);
        // The killed tool's server session ends when the server notices the closed socket.
        await WaitAsync(async () => (await postgres.Cluster.PsqlAsync("postgres", $"SELECT count(*) FROM pg_stat_activity WHERE datname = {PgBackup.TestSupport.PostgresCluster.QuoteLiteral(leftover)};")).Trim() == "0");
        await using var server = new PgServer(postgres.Connection());
        var found = Assert.Single(await WorkingDatabases.FindAsync(new DatabaseAdmin(server), CancellationToken.None), w => w.Name == leftover);
        Assert.True(found.Age < WorkingDatabases.MinimumAge);
        return leftover;
    }

    private async Task AgeAsync(string database, TimeSpan age)
        => await postgres.Cluster.PsqlAsync("postgres", $"COMMENT ON DATABASE {DatabaseAdmin.QuoteIdentifier(database)} IS '{WorkingDatabases.Marker(DateTime.UtcNow - age)}';");

    private Task<TestResult> VerifyAsync(BackupInfo backup, RecordingLog log, bool force)
        => new BackupVerifier(log: log).VerifyAsync(
            new VerificationRequest { Backup = backup, Repository = new LocalRepository(backup.Repository), Level = TestLevel.Restore, Connection = postgres.Connection(), DropLeftovers = force },
            CancellationToken.None);

    private async Task<string?> SleepingRestoreAsync()
    {
        var database = (await postgres.Cluster.PsqlAsync("postgres", "SELECT datname FROM pg_stat_activity WHERE application_name = 'pgbackup' AND wait_event = 'PgSleep' LIMIT 1;")).Trim();
        return database.Length > 0 ? database : null;
    }

    private async Task<bool> DumpIsWaitingAsync(string database)
        => (await postgres.Cluster.PsqlAsync("postgres", $"SELECT count(*) FROM pg_stat_activity WHERE datname = {PgBackup.TestSupport.PostgresCluster.QuoteLiteral(database)} AND application_name = 'pgbackup' AND wait_event_type = 'Lock';")).Trim() != "0";

    private List<string> Partials() => Directory.EnumerateFiles(_repository.Path, "*" + LocalRepository.PartialSuffix, SearchOption.AllDirectories).ToList();

    private static string Quote(string? value) => "'" + (value ?? string.Empty).Replace("'", "''", StringComparison.Ordinal) + "'";

    private static async Task WaitAsync(Func<Task<bool>> condition)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromMinutes(2), "the condition did not come true within two minutes");
            await Task.Delay(50);
        }
    }

    private sealed class FixedClock(DateTime utcNow) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => new(utcNow, TimeSpan.Zero);
    }

    /// <summary>A pwsh process in a session of its own that imports the staged module and runs one command.</summary>
    private sealed class KillableJob : IDisposable
    {
        private readonly Process _process;
        private readonly string _script;
        private readonly List<string> _output = [];

        private KillableJob(Process process, string script)
        {
            _process = process;
            _script = script;
        }

        public static KillableJob Start(string command)
        {
            var module = Environment.GetEnvironmentVariable("PGBACKUP_MODULE_PATH") is { Length: > 0 } fromBuild
                ? fromBuild
                : Path.Combine(TestEnvironment.RepositoryRoot, "out", "PgBackup", "PgBackup.psd1");
            Assert.True(File.Exists(module), $"The module is not staged at {module}: run ./build.ps1 Build first.");
            var script = Path.Combine(Path.GetTempPath(), $"pgbackup-kill-{Guid.NewGuid():N}.ps1");
            File.WriteAllText(script, $"$ErrorActionPreference = 'Stop'\nImport-Module {Quote(module)}\n{command}\n");
            // setsid: the job gets a process group of its own, so one SIGKILL reaches pwsh and the tools it started.
            var info = new ProcessStartInfo("setsid") { WorkingDirectory = TestEnvironment.RepositoryRoot, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var argument in new[] { "dotnet", "pwsh", "-NoProfile", "-NonInteractive", "-File", script })
            {
                info.ArgumentList.Add(argument);
            }

            var job = new KillableJob(Process.Start(info) ?? throw new InvalidOperationException("Cannot start pwsh."), script);
            job._process.OutputDataReceived += (_, e) => job.Collect(e.Data);
            job._process.ErrorDataReceived += (_, e) => job.Collect(e.Data);
            job._process.BeginOutputReadLine();
            job._process.BeginErrorReadLine();
            return job;
        }

        public async Task WaitUntilAsync(Func<Task<bool>> condition)
            => await WaitForAsync(async () => await condition() ? string.Empty : null);

        /// <summary>Polls until <paramref name="probe"/> returns a value; fails at once if the job ended first.</summary>
        public async Task<string> WaitForAsync(Func<Task<string?>> probe)
        {
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                if (await probe() is { } value)
                {
                    return value;
                }

                Assert.False(_process.HasExited, "The job ended before the moment to kill it: " + Output());
                Assert.True(deadline.Elapsed < TimeSpan.FromMinutes(2), "The job did not reach the moment to kill it: " + Output());
                await Task.Delay(50);
            }
        }

        public void Kill()
        {
            Assert.False(_process.HasExited, "The job ended before it was killed: " + Output());
            using (var kill = Process.Start("kill", ["-KILL", "--", "-" + _process.Id]))
            {
                kill.WaitForExit();
                Assert.Equal(0, kill.ExitCode);
            }

            _process.WaitForExit();
            Assert.Equal(137, _process.ExitCode); // 128 + SIGKILL
        }

        public void Dispose()
        {
            if (!_process.HasExited)
            {
                Process.Start("kill", ["-KILL", "--", "-" + _process.Id])?.WaitForExit();
            }

            _process.Dispose();
            File.Delete(_script);
        }

        private void Collect(string? line)
        {
            if (line is not null)
            {
                lock (_output)
                {
                    _output.Add(line);
                }
            }
        }

        private string Output()
        {
            lock (_output)
            {
                return string.Join(" | ", _output);
            }
        }
    }
}
