using Npgsql;
using PgBackup.Server;
using PgBackup.Verification;

namespace PgBackup.Tests.Integration;

/// <summary>
/// -RowCounts against a live database that changes during the backup, cancellation while pg_restore
/// runs, and hostile names. Waits are on observed server state (pg_stat_activity), never blind sleeps.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class VerificationSnapshotTests(PostgresFixture postgres) : IDisposable
{
    private readonly TempFolder _repository = new();

    public void Dispose() => _repository.Dispose();

    [Fact]
    public async Task Rows_changed_while_a_RowCounts_backup_runs_are_not_counted_and_the_restore_test_still_passes()
    {
        var database = PostgresFixture.UniqueName("snapshot");
        await postgres.Cluster.CreateNorthwindAsync(database);
        await postgres.Cluster.PsqlAsync(database, "CREATE TABLE gate (id int);");

        // Hold the gate table exclusively: the backup exports its snapshot, then blocks when it
        // counts (or pg_dump locks) the gate — a point we can observe and act at.
        await using var server = new PgServer(postgres.Connection());
        await using var gate = await server.OpenAsync(database, CancellationToken.None);
        await using var gateTransaction = await gate.BeginTransactionAsync();
        await using (var lockGate = new NpgsqlCommand("LOCK TABLE gate IN ACCESS EXCLUSIVE MODE", gate, gateTransaction))
        {
            await lockGate.ExecuteNonQueryAsync();
        }

        var backupTask = VerificationSteps.BackUpAsync(postgres, _repository.Path, database);
        await WaitForAsync(
            postgres.Cluster,
            database,
            "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgbackup' AND wait_event_type = 'Lock'",
            backupTask);

        // Committed changes after the snapshot was exported, while the backup is under way.
        await postgres.Cluster.PsqlAsync(database, "DELETE FROM order_details WHERE order_id = 10248; INSERT INTO shippers VALUES (99, 'Gate Express', NULL);");
        await gateTransaction.RollbackAsync();
        var backup = await backupTask;

        var live = await postgres.Cluster.RowCountsAsync(database);
        Assert.Equal(2155 - 3, live["public.order_details"]);
        Assert.Equal(6 + 1, live["public.shippers"]);
        Assert.Equal(2155, backup.RowCounts!["\"public\".\"order_details\""]);
        Assert.Equal(6, backup.RowCounts["\"public\".\"shippers\""]);
        Assert.Equal(15, backup.RowCounts.Count);

        var result = await VerificationSteps.TestAsync(postgres, backup, TestLevel.Restore);

        Assert.True(result.Passed, result.DescribeFailures());
        Assert.True(VerificationSteps.Check(result, "Row counts").Passed);
    }

    [Fact]
    public async Task A_restore_test_cancelled_while_pg_restore_runs_drops_its_temporary_database()
    {
        var database = PostgresFixture.UniqueName("cancel");
        await postgres.Cluster.CreateDatabaseAsync(database);
        // Enough rows that pg_restore is still copying when we see it connected.
        await postgres.Cluster.PsqlAsync(database, "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 1500000) g;");
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, database, rowCounts: false);

        using var cancellation = new CancellationTokenSource();
        var verifier = new BackupVerifier();
        var created = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        verifier.TemporaryDatabaseCreated += name => created.TrySetResult(name);
        var test = VerificationSteps.TestAsync(postgres, backup, TestLevel.Restore, verifier, cancellation.Token);

        var temporary = await created.Task.WaitAsync(TimeSpan.FromMinutes(2));
        await WaitForAsync(
            postgres.Cluster,
            "postgres",
            $"SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = {PgBackup.TestSupport.PostgresCluster.QuoteLiteral(temporary)} AND query ILIKE 'COPY%'",
            test);
        cancellation.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => test);
        Assert.Empty(await VerificationSteps.LeftoverVerifyDatabasesAsync(postgres));
    }

    [Fact]
    public async Task A_database_with_a_hostile_63_byte_name_passes_the_restore_level()
    {
        // Quotes, spaces, a semicolon and multi-byte characters, exactly PostgreSQL's 63-byte limit.
        var name = "Ünï \"q\" ;drop'x " + Guid.NewGuid().ToString("N")[..8];
        while (System.Text.Encoding.UTF8.GetByteCount(name) < 62)
        {
            name += "é"; // two bytes
        }

        if (System.Text.Encoding.UTF8.GetByteCount(name) == 62)
        {
            name += "x";
        }

        Assert.Equal(63, System.Text.Encoding.UTF8.GetByteCount(name));
        await postgres.Cluster.CreateDatabaseAsync(name);
        await postgres.Cluster.PsqlAsync(name, "CREATE TABLE \"odd \"\"table\"\" ü\" (id int); INSERT INTO \"odd \"\"table\"\" ü\" SELECT generate_series(1, 42);");

        foreach (var format in new[] { BackupFormat.Custom, BackupFormat.Plain })
        {
            var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, name, format, BackupCompression.Gzip);
            var result = await VerificationSteps.TestAsync(postgres, backup, TestLevel.Restore);

            Assert.True(result.Passed, $"{format}: " + result.DescribeFailures());
            Assert.Equal(42, backup.RowCounts!["\"public\".\"odd \"\"table\"\" ü\""]);
            Assert.StartsWith(TemporaryDatabaseName.Prefix + "n_q_drop_x_", result.TemporaryDatabase);
            Assert.True(System.Text.Encoding.UTF8.GetByteCount(result.TemporaryDatabase!) <= 63);
        }

        Assert.Empty(await VerificationSteps.LeftoverVerifyDatabasesAsync(postgres));
    }

    [Fact]
    public async Task Partitions_and_extension_tables_are_counted_the_way_pg_dump_writes_them()
    {
        var database = PostgresFixture.UniqueName("parts");
        await postgres.Cluster.CreateDatabaseAsync(database);
        await postgres.Cluster.PsqlAsync(database, """
            CREATE TABLE measurements (day date NOT NULL, value int) PARTITION BY RANGE (day);
            CREATE TABLE measurements_2025 PARTITION OF measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
            CREATE TABLE measurements_2026 PARTITION OF measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
            INSERT INTO measurements SELECT DATE '2025-06-01' + g, g FROM generate_series(1, 300) g;
            CREATE EXTENSION pgcrypto;
            CREATE TABLE owned_by_extension (id int);
            ALTER EXTENSION pgcrypto ADD TABLE owned_by_extension;
            """);

        foreach (var format in new[] { BackupFormat.Custom, BackupFormat.Plain })
        {
            var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, database, format, BackupCompression.Gzip);
            // pg_dump leaves extension members to CREATE EXTENSION and counts partitions within their parent.
            Assert.Equal(new Dictionary<string, long> { ["\"public\".\"measurements\""] = 300 }, backup.RowCounts);

            var result = await VerificationSteps.TestAsync(postgres, backup, TestLevel.Restore);

            Assert.True(result.Passed, $"{format}: " + result.DescribeFailures());
        }
    }

    /// <summary>Polls a boolean query until it is true; fails if <paramref name="work"/> ends first (the moment was missed).</summary>
    private static async Task WaitForAsync(PgBackup.TestSupport.PostgresCluster cluster, string database, string sql, Task work)
    {
        using var giveUp = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        while ((await cluster.PsqlAsync(database, sql + ";")).Trim() != "t")
        {
            if (work.IsCompleted)
            {
                await work;
                Assert.Fail("The operation finished before the awaited server state was observed.");
            }

            await Task.Delay(10, giveUp.Token);
        }
    }
}
