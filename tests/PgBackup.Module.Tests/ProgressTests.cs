using System.Management.Automation;

namespace PgBackup.Module.Tests;

/// <summary>
/// Progress as a host sees it (Streams.Progress of the built module): every bar a cmdlet starts ends with a Completed
/// record — on success, on failure and when stopped — and the bars say what they measure.
/// </summary>
[Collection(HostedCollection.Name)]
public sealed class ProgressTests(ClusterFixture pg) : IDisposable
{
    private readonly TempFolder _repository = new();

    public void Dispose() => _repository.Dispose();

    [Fact]
    public async Task A_backup_reports_bytes_read_from_pg_dump_against_the_estimate_with_a_rate_and_ends_Completed()
    {
        var database = ClusterFixture.UniqueName("progress");
        await pg.Cluster.CreateDatabaseAsync(database);
        // Large enough that pg_dump runs for more than one report interval (500 ms).
        await pg.Cluster.PsqlAsync(database, "CREATE TABLE filler AS SELECT g, md5(g::text) || md5((g * 7)::text) AS p FROM generate_series(1, 600000) g;");
        using var shell = ModuleHost.CreateShell();
        AddBackup(shell, database);

        var output = await Task.Run(() => shell.Invoke());

        Assert.Single(output);
        Assert.Empty(shell.Streams.Error);
        var records = shell.Streams.Progress.ToList();
        AssertEveryBarEndsCompleted(records);
        var running = records.Where(r => r.RecordType == ProgressRecordType.Processing && r.StatusDescription.Contains("read from pg_dump", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(running);
        Assert.All(running, record =>
        {
            // The database size is only an estimate of pg_dump's output: the bar says so, never claims 100 %.
            Assert.Matches(@"^[\d.,]+ (B|KiB|MiB|GiB) read from pg_dump of about [\d.,]+ (B|KiB|MiB|GiB) \(estimate\), [\d.,]+ (B|KiB|MiB|GiB)/s$", record.StatusDescription);
            Assert.InRange(record.PercentComplete, 0, 99);
            Assert.Equal($"Backing up {database}", record.Activity);
        });
    }

    [Fact]
    public async Task A_failing_backup_still_ends_its_bar_Completed()
    {
        var closed = await CreateClosedDatabaseAsync("progress_closed");
        using var shell = ModuleHost.CreateShell();
        AddBackup(shell, closed);

        shell.Invoke();

        Assert.NotEmpty(shell.Streams.Error);
        AssertEveryBarEndsCompleted(shell.Streams.Progress.ToList());
    }

    [Fact]
    public async Task Several_databases_draw_one_bar_per_database_under_a_bar_for_the_run_and_all_end_Completed()
    {
        var first = ClusterFixture.UniqueName("progress_a");
        await pg.Cluster.CreateDatabaseAsync(first);
        var closed = await CreateClosedDatabaseAsync("progress_closed");
        using var shell = ModuleHost.CreateShell();
        AddBackup(shell, first, closed);

        shell.Invoke();

        var records = shell.Streams.Progress.ToList();
        AssertEveryBarEndsCompleted(records);
        var run = Assert.Single(records.Where(r => r.ParentActivityId == -1).Select(r => r.ActivityId).Distinct());
        Assert.Equal("Backing up 2 databases", records.First(r => r.ActivityId == run).Activity);
        var children = records.Where(r => r.ParentActivityId == run).GroupBy(r => r.ActivityId).Select(g => g.First().Activity).ToList();
        Assert.Equal([$"Backing up {first}", $"Backing up {closed}"], children);
    }

    [Fact]
    public async Task A_stopped_backup_ends_its_bar_Completed()
    {
        var database = ClusterFixture.UniqueName("progress_stop");
        await pg.Cluster.CreateDatabaseAsync(database);
        await pg.Cluster.PsqlAsync(database, "CREATE TABLE big AS SELECT g FROM generate_series(1, 1000) g;");
        await using var heldLock = await pg.Cluster.HoldExclusiveLockAsync(database, "big");
        using var shell = ModuleHost.CreateShell();
        AddBackup(shell, database);

        var invocation = shell.BeginInvoke();
        await pg.Cluster.WaitForBlockedDumpAsync(database);
        shell.Stop();

        Assert.True(invocation.IsCompleted);
        Assert.Equal(PSInvocationState.Stopped, shell.InvocationStateInfo.State);
        AssertEveryBarEndsCompleted(shell.Streams.Progress.ToList());
    }

    [Fact]
    public async Task Test_and_Restore_end_their_bars_Completed()
    {
        var database = ClusterFixture.UniqueName("progress_tr");
        await pg.Cluster.CreateNorthwindAsync(database);
        using var shell = ModuleHost.CreateShell();
        shell.AddScript("""
            param($Database, $Repository, $Uri, $Target)
            $backup = New-PgBackup -Database $Database -Repository $Repository -ConnectionString $Uri -ErrorAction Stop
            $null = $backup | Test-PgBackup -Level Restore -ConnectionString $Uri -ErrorAction Stop
            $null = $backup | Restore-PgBackup -TargetDatabase $Target -ConnectionString $Uri -ErrorAction Stop
            """).AddParameter("Database", database).AddParameter("Repository", _repository.Path).AddParameter("Uri", pg.Cluster.ConnectionUri())
            .AddParameter("Target", database + "_r");

        await Task.Run(() => shell.Invoke());

        Assert.Empty(shell.Streams.Error);
        var records = shell.Streams.Progress.ToList();
        AssertEveryBarEndsCompleted(records);
        Assert.Contains(records, r => r.Activity.StartsWith("Testing ", StringComparison.Ordinal) || r.Activity.StartsWith("Verifying ", StringComparison.Ordinal));
        Assert.Contains(records, r => r.Activity.StartsWith("Restoring ", StringComparison.Ordinal));
    }

    /// <summary>
    /// A database the server lists but refuses connections to: it passes New-PgBackup's pre-flight selection (an
    /// unknown name would be refused before any bar starts) and then fails as the environment would, mid-run.
    /// </summary>
    private async Task<string> CreateClosedDatabaseAsync(string prefix)
    {
        var name = ClusterFixture.UniqueName(prefix);
        await pg.Cluster.PsqlAsync("postgres", $"CREATE DATABASE {PostgresCluster.QuoteIdentifier(name)} ALLOW_CONNECTIONS false;");
        return name;
    }

    private void AddBackup(PowerShell shell, params string[] databases)
        => shell.AddCommand("New-PgBackup").AddParameter("Database", databases).AddParameter("Repository", _repository.Path)
            .AddParameter("ConnectionString", pg.Cluster.ConnectionUri());

    /// <summary>Each ActivityId's records end with exactly one Completed record, and nothing follows it.</summary>
    private static void AssertEveryBarEndsCompleted(List<ProgressRecord> records)
    {
        Assert.NotEmpty(records);
        foreach (var bar in records.GroupBy(r => r.ActivityId))
        {
            var list = bar.ToList();
            Assert.Equal(ProgressRecordType.Completed, list[^1].RecordType);
            Assert.Single(list, r => r.RecordType == ProgressRecordType.Completed);
        }
    }
}
