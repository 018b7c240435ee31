using PgBackup.Verification;

namespace PgBackup.Tests.Integration;

/// <summary>Test-PgBackup's core against real backups of a real server: good ones pass, damaged ones fail and say why.</summary>
[Collection(PostgresCollection.Name)]
public sealed class VerificationTests(PostgresFixture postgres) : IAsyncLifetime
{
    private readonly TempFolder _repository = new();
    private string _database = string.Empty;

    public async Task InitializeAsync()
    {
        _database = PostgresFixture.UniqueName("verify");
        await postgres.Cluster.CreateNorthwindAsync(_database);
    }

    public Task DisposeAsync()
    {
        _repository.Dispose();
        return Task.CompletedTask;
    }

    [Theory]
    [InlineData(BackupFormat.Custom, BackupCompression.Gzip)]
    [InlineData(BackupFormat.Tar, BackupCompression.None)]
    [InlineData(BackupFormat.Plain, BackupCompression.Gzip)]
    [InlineData(BackupFormat.Tar, BackupCompression.Lz4)]
    [InlineData(BackupFormat.Custom, BackupCompression.Zstd)] // zstd by PgBackup's stream stage when pg_dump is older than 16
    public async Task A_good_backup_passes_every_level_and_leaves_no_temporary_database(BackupFormat format, BackupCompression compression)
    {
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, _database, format, compression);
        Assert.NotNull(backup.RowCounts);
        Assert.Equal(14, backup.RowCounts!.Count);

        foreach (var level in new[] { TestLevel.Checksum, TestLevel.Structure, TestLevel.Restore })
        {
            var result = await VerificationSteps.TestAsync(postgres, backup, level);
            Assert.True(result.Passed, $"{level}: " + result.DescribeFailures());
            Assert.Equal(level, result.Level);
        }

        var restore = await VerificationSteps.TestAsync(postgres, backup, TestLevel.Restore);
        Assert.Equal(
            ["Size", "SHA-256", .. backup.CompressionStage == CompressionStage.Stream ? new[] { "Decompression" } : [], "Format header", "Table of contents", "Tables match manifest", "Restore", "Tables restored", "Row counts"],
            restore.Checks.Select(c => c.Name));
        Assert.Contains("14 tables", VerificationSteps.Check(restore, "Row counts").Detail);
        Assert.StartsWith("pgbackup_verify_verify_", restore.TemporaryDatabase);
        Assert.False(restore.TemporaryDatabaseKept);
        Assert.Empty(await VerificationSteps.LeftoverVerifyDatabasesAsync(postgres));
    }

    [Fact]
    public async Task The_restore_level_reports_the_temporary_database_it_fills()
    {
        var source = PostgresFixture.UniqueName("verify_slow");
        await RestoreTestSupport.CreateSlowToRestoreAsync(postgres.Cluster, source);
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, source);
        var progress = new RecordingProgress();
        using var cancellation = new CancellationTokenSource();

        var test = VerificationSteps.TestAsync(postgres, backup, TestLevel.Restore, new BackupVerifier(progress: progress), cancellation.Token);
        var temporary = await RestoreTestSupport.WaitForSleepingRestoreAsync(postgres.Cluster);
        Assert.True(await progress.WaitForAsync(PgBackup.Restore.RestoreProgress.DatabaseSizeStatus), "no size report while pg_restore ran");
        Assert.False(test.IsCompleted);
        await cancellation.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => test);

        var sized = progress.Reports.Where(report => report.Status == PgBackup.Restore.RestoreProgress.DatabaseSizeStatus).ToList();
        Assert.All(sized, report => Assert.Equal($"Restoring {backup.Id} into the temporary database {temporary}", report.Activity));
        Assert.All(sized, report => Assert.True(report.BytesDone > 1_000_000, $"{report.BytesDone} bytes"));
        Assert.Empty(await VerificationSteps.LeftoverVerifyDatabasesAsync(postgres));
    }

    [Fact]
    public async Task One_flipped_byte_fails_the_checksum_and_names_both_hashes()
    {
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, _database);
        var bytes = await File.ReadAllBytesAsync(backup.Location!);
        bytes[bytes.Length / 2] ^= 0x01;
        var damaged = await VerificationSteps.ReplaceArtifactAsync(backup, bytes, updateManifest: false);
        var actualSha = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes)).ToLowerInvariant();

        var result = await VerificationSteps.TestAsync(postgres, damaged, TestLevel.Checksum);

        Assert.False(result.Passed);
        Assert.True(VerificationSteps.Check(result, "Size").Passed);
        var sha = VerificationSteps.Check(result, "SHA-256");
        Assert.False(sha.Passed);
        Assert.Equal($"expected sha256 {backup.Sha256} (manifest), actual sha256 {actualSha}", sha.Detail);

        // The Restore level verifies the checksum in the read that feeds pg_restore: it fails too, and cleans up.
        var restore = await VerificationSteps.TestAsync(postgres, damaged, TestLevel.Restore);
        Assert.False(restore.Passed);
        Assert.Equal(sha.Detail, VerificationSteps.Check(restore, "SHA-256").Detail);
        Assert.Empty(await VerificationSteps.LeftoverVerifyDatabasesAsync(postgres));
    }

    [Fact]
    public async Task A_flipped_byte_in_a_stream_compressed_backup_fails_the_checksum_and_the_decompression()
    {
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, _database, BackupFormat.Plain, BackupCompression.Gzip);
        var bytes = await File.ReadAllBytesAsync(backup.Location!);
        // Past the gzip header, inside the deflate data: the CRC or the block structure breaks.
        for (var i = bytes.Length / 3; i < bytes.Length / 3 + 64; i++)
        {
            bytes[i] ^= 0xff;
        }

        var damaged = await VerificationSteps.ReplaceArtifactAsync(backup, bytes, updateManifest: true);
        var result = await VerificationSteps.TestAsync(postgres, damaged, TestLevel.Checksum);

        Assert.True(VerificationSteps.Check(result, "SHA-256").Passed);
        var decompression = VerificationSteps.Check(result, "Decompression");
        Assert.False(decompression.Passed);
        Assert.StartsWith("the gzip stream does not decode: ", decompression.Detail);
    }

    [Theory]
    [InlineData(BackupFormat.Custom, BackupCompression.Gzip)]
    [InlineData(BackupFormat.Plain, BackupCompression.None)]
    public async Task A_truncated_file_fails_checksum_and_structure(BackupFormat format, BackupCompression compression)
    {
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, _database, format, compression);
        var bytes = await File.ReadAllBytesAsync(backup.Location!);
        var damaged = await VerificationSteps.ReplaceArtifactAsync(backup, bytes[..(bytes.Length / 2)], updateManifest: false);

        var checksum = await VerificationSteps.TestAsync(postgres, damaged, TestLevel.Checksum);
        var structure = await VerificationSteps.TestAsync(postgres, damaged, TestLevel.Structure);

        Assert.False(checksum.Passed);
        Assert.Equal(
            string.Create(System.Globalization.CultureInfo.InvariantCulture, $"expected {backup.SizeBytes:N0} bytes (manifest), actual {bytes.Length / 2:N0} bytes (truncated)"),
            VerificationSteps.Check(checksum, "Size").Detail);
        Assert.False(structure.Passed);
        Assert.False(VerificationSteps.Check(structure, "Size").Passed);
    }

    [Fact]
    public async Task A_truncated_file_whose_manifest_agrees_still_fails_structure()
    {
        // The checksum cannot catch a dump that was cut before it was hashed; the structure check must.
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, _database, BackupFormat.Plain, BackupCompression.None);
        var bytes = await File.ReadAllBytesAsync(backup.Location!);
        var damaged = await VerificationSteps.ReplaceArtifactAsync(backup, bytes[..(bytes.Length / 2)], updateManifest: true);

        var result = await VerificationSteps.TestAsync(postgres, damaged, TestLevel.Structure);

        Assert.True(VerificationSteps.Check(result, "SHA-256").Passed);
        var contents = VerificationSteps.Check(result, "Table of contents");
        Assert.False(contents.Passed);
        Assert.Contains("PostgreSQL database dump complete", contents.Detail);
    }

    [Theory]
    [InlineData(BackupFormat.Custom)]
    [InlineData(BackupFormat.Tar)]
    [InlineData(BackupFormat.Plain)]
    public async Task A_file_that_is_not_a_dump_fails_structure_even_with_a_matching_checksum(BackupFormat format)
    {
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, _database, format, BackupCompression.None);
        var notADump = System.Text.Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("this is a shopping list, not a database dump\n", 200)));
        var damaged = await VerificationSteps.ReplaceArtifactAsync(backup, notADump, updateManifest: true);

        var checksum = await VerificationSteps.TestAsync(postgres, damaged, TestLevel.Checksum);
        var structure = await VerificationSteps.TestAsync(postgres, damaged, TestLevel.Structure);

        Assert.True(checksum.Passed, checksum.DescribeFailures());
        Assert.False(structure.Passed);
        var header = VerificationSteps.Check(structure, "Format header");
        Assert.False(header.Passed);
        // Issue 9.9: the kind of file and its size, never its content.
        Assert.Contains("found text (1024 bytes read; content not shown)", header.Detail);
        Assert.DoesNotContain("shopping", header.Detail);
        Assert.False(VerificationSteps.Check(structure, "Table of contents").Passed);
    }

    [Fact]
    public async Task Row_counts_that_differ_from_the_manifest_fail_the_restore_level_and_name_the_table()
    {
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, _database);
        var tampered = await VerificationSteps.ReplaceArtifactAsync(
            backup,
            await File.ReadAllBytesAsync(backup.Location!),
            updateManifest: false,
            manifest => manifest with { RowCounts = new Dictionary<string, long>(manifest.RowCounts!) { ["\"public\".\"orders\""] = 1 } });

        var result = await VerificationSteps.TestAsync(postgres, tampered, TestLevel.Restore);

        Assert.False(result.Passed);
        var counts = VerificationSteps.Check(result, "Row counts");
        Assert.Equal("\"public\".\"orders\": expected 1 rows (manifest), actual 830", counts.Detail);
        Assert.True(VerificationSteps.Check(result, "Restore").Passed);
        Assert.Empty(await VerificationSteps.LeftoverVerifyDatabasesAsync(postgres));
    }

    [Fact]
    public async Task A_restore_that_fails_is_reported_and_its_temporary_database_dropped()
    {
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, _database, BackupFormat.Plain, BackupCompression.None);
        var sql = await File.ReadAllTextAsync(backup.Location!);
        // Valid structure (banner and footer intact), but the SQL fails half-way.
        var broken = sql.Replace("CREATE TABLE public.orders (", "SELECT 1/0;\nCREATE TABLE public.orders (", StringComparison.Ordinal);
        Assert.NotEqual(sql, broken);
        var damaged = await VerificationSteps.ReplaceArtifactAsync(backup, System.Text.Encoding.UTF8.GetBytes(broken), updateManifest: true);

        var result = await VerificationSteps.TestAsync(postgres, damaged, TestLevel.Restore);

        Assert.False(result.Passed);
        Assert.True(VerificationSteps.Check(result, "Table of contents").Passed);
        var restore = VerificationSteps.Check(result, "Restore");
        Assert.False(restore.Passed);
        Assert.Contains("division by zero", restore.Detail);
        Assert.Empty(await VerificationSteps.LeftoverVerifyDatabasesAsync(postgres));
    }

    [Fact]
    public async Task A_cancelled_restore_test_drops_its_temporary_database()
    {
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, _database);
        using var cancellation = new CancellationTokenSource();
        var verifier = new BackupVerifier();
        string? created = null;
        verifier.TemporaryDatabaseCreated += name =>
        {
            created = name;
            cancellation.Cancel();
        };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => VerificationSteps.TestAsync(postgres, backup, TestLevel.Restore, verifier, cancellation.Token));

        Assert.NotNull(created);
        Assert.Empty(await VerificationSteps.LeftoverVerifyDatabasesAsync(postgres));
    }

    [Fact]
    public async Task A_user_who_cannot_create_databases_gets_a_RestoreFailed_error_not_a_failed_test()
    {
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, _database);
        var role = PostgresFixture.UniqueName("nocreatedb");
        await postgres.Cluster.PsqlAsync("postgres", $"CREATE ROLE {role} LOGIN NOCREATEDB;");

        var error = await Assert.ThrowsAsync<Errors.RestoreFailedException>(() => new BackupVerifier().VerifyAsync(
            new VerificationRequest { Backup = backup, Repository = new Storage.LocalRepository(backup.Repository), Level = TestLevel.Restore, Connection = postgres.Connection() with { Username = role } },
            CancellationToken.None));

        Assert.Equal("RestoreFailed", error.ErrorId);
        Assert.Contains("permission denied to create database", error.Message);
        Assert.Empty(await VerificationSteps.LeftoverVerifyDatabasesAsync(postgres));
    }

    [Fact]
    public async Task KeepDatabase_leaves_the_restored_database_for_inspection()
    {
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, _database);
        var result = await new BackupVerifier().VerifyAsync(
            new VerificationRequest { Backup = backup, Repository = new Storage.LocalRepository(backup.Repository), Level = TestLevel.Restore, Connection = postgres.Connection(), KeepDatabase = true },
            CancellationToken.None);
        try
        {
            Assert.True(result.Passed, result.DescribeFailures());
            Assert.True(result.TemporaryDatabaseKept);
            Assert.Equal("830", (await postgres.Cluster.PsqlAsync(result.TemporaryDatabase!, "SELECT count(*) FROM orders;")).Trim());
        }
        finally
        {
            await using var server = new Server.PgServer(postgres.Connection());
            await new Server.DatabaseAdmin(server).DropIfExistsAsync(result.TemporaryDatabase!, CancellationToken.None);
        }
    }
}
