using System.Text;
using PgBackup.Errors;
using PgBackup.Restore;
using PgBackup.Storage;
using static PgBackup.Tests.Integration.RestoreTestSupport;

namespace PgBackup.Tests.Integration;

[Collection(PostgresCollection.Name)]
public sealed class RestoreServiceTests(PostgresFixture fixture) : IDisposable
{
    private readonly TempFolder _repository = new();

    public void Dispose() => _repository.Dispose();

    private RestoreRequest Request(BackupInfo backup, IBackupRepository repository, string target, int jobs = 1, bool dropPrevious = false) => new()
    {
        Backup = backup,
        Repository = repository,
        Connection = fixture.Connection(),
        TargetDatabase = target,
        Jobs = jobs,
        DropPrevious = dropPrevious,
    };

    private async Task<(string Source, BackupInfo Backup, IBackupRepository Repository)> NorthwindBackupAsync(BackupFormat format = BackupFormat.Custom, BackupCompression compression = BackupCompression.Gzip, int jobs = 1)
    {
        var source = PostgresFixture.UniqueName("nw_src");
        await fixture.Cluster.CreateNorthwindAsync(source);
        var (backup, repository) = await BackupAsync(fixture, source, _repository.Path, format, compression, jobs);
        return (source, backup, repository);
    }

    private async Task<(BackupInfo Backup, IBackupRepository Repository)> SlowBackupAsync()
    {
        var source = PostgresFixture.UniqueName("slow_src");
        await CreateSlowToRestoreAsync(fixture.Cluster, source);
        return await BackupAsync(fixture, source, _repository.Path);
    }

    /// <summary>An existing database with other data, and the server's state, to prove a failed restore changed nothing.</summary>
    private async Task<LiveTarget> LiveTargetAsync(string prefix)
    {
        var name = PostgresFixture.UniqueName(prefix);
        await CreateOtherDataAsync(fixture.Cluster, name);
        return new LiveTarget(name, await SnapshotAsync(fixture.Cluster, name), await DatabasesAsync(fixture.Cluster));
    }

    private async Task AssertUntouchedAsync(LiveTarget target)
    {
        Assert.Equal(target.Snapshot, await SnapshotAsync(fixture.Cluster, target.Name));
        Assert.Equal(target.DatabasesBefore, await DatabasesAsync(fixture.Cluster));
    }

    private sealed record LiveTarget(string Name, string Snapshot, IReadOnlyList<string> DatabasesBefore);

    public static TheoryData<BackupFormat, BackupCompression> EveryFormatAndCompression()
    {
        var data = new TheoryData<BackupFormat, BackupCompression>();
        foreach (var format in Enum.GetValues<BackupFormat>())
        {
            foreach (var compression in Enum.GetValues<BackupCompression>())
            {
                data.Add(format, compression);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(EveryFormatAndCompression))]
    public async Task Restores_northwind_into_a_new_database_with_the_same_schema_and_content(BackupFormat format, BackupCompression compression)
    {
        // Directory dumps are taken and restored with two jobs (pg_dump -j 2, pg_restore -j 2).
        var jobs = format == BackupFormat.Directory ? 2 : 1;
        var (source, backup, repository) = await NorthwindBackupAsync(format, compression, jobs);
        var target = PostgresFixture.UniqueName("nw_new");

        var result = await new RestoreService().RunAsync(Request(backup, repository, target, jobs), CancellationToken.None);

        Assert.False(result.Replaced);
        Assert.Null(result.PreviousDatabase);
        Assert.Equal(target, result.TargetDatabase);
        Assert.Equal($"{fixture.Cluster.Host}:{fixture.Cluster.Port}", result.Server);
        Assert.Same(backup, result.Backup);
        var hashes = await ContentHashesAsync(fixture.Cluster, target);
        Assert.Equal(14, hashes.Count);
        Assert.Equal(await ContentHashesAsync(fixture.Cluster, source), hashes);
        Assert.Equal(await fixture.Cluster.SchemaDumpAsync(source), await fixture.Cluster.SchemaDumpAsync(target));
    }

    [Fact]
    public async Task A_parallel_restore_reports_the_database_it_fills_while_pg_restore_reads_the_archive_itself()
    {
        var (backup, repository) = await SlowBackupAsync();
        var target = PostgresFixture.UniqueName("slow_progress");
        var progress = new RecordingProgress();
        using var cancellation = new CancellationTokenSource();

        // -Jobs 2: pg_restore reads the verified copy itself, so no byte passes PgBackup while it runs.
        var restore = new RestoreService(progress: progress).RunAsync(Request(backup, repository, target, jobs: 2), cancellation.Token);
        var staging = await WaitForSleepingRestoreAsync(fixture.Cluster);
        Assert.True(await progress.WaitForAsync(RestoreProgress.DatabaseSizeStatus), "no size report while pg_restore ran");
        Assert.False(restore.IsCompleted);
        await cancellation.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => restore);

        var sized = progress.Reports.Where(report => report.Status == RestoreProgress.DatabaseSizeStatus).ToList();
        Assert.All(sized, report => Assert.Equal(($"Restoring {backup.Id} into \"{staging}\"", (long?)null), (report.Activity, report.BytesTotal)));
        // A new database is already some megabytes of catalogue.
        Assert.All(sized, report => Assert.True(report.BytesDone > 1_000_000, $"{report.BytesDone} bytes"));
        // Sampling ended with the restore.
        var count = progress.Reports.Count;
        await Task.Delay(PgBackup.Diagnostics.OperationProgress.ReportInterval * 3);
        Assert.Equal(count, progress.Reports.Count);
    }

    [Fact]
    public async Task Parallel_restore_goes_through_a_private_temporary_file_that_is_deleted_afterwards()
    {
        var (source, backup, repository) = await NorthwindBackupAsync();
        var target = PostgresFixture.UniqueName("nw_par");
        string? archivePath = null;
        UnixFileMode? modeWhileRestoring = null;
        var log = new RecordingLog(message =>
        {
            if (message.Contains(" jobs from ", StringComparison.Ordinal))
            {
                archivePath = message[(message.IndexOf(" jobs from ", StringComparison.Ordinal) + " jobs from ".Length)..].TrimEnd('.');
                modeWhileRestoring = OperatingSystem.IsWindows() ? UnixFileMode.UserRead | UnixFileMode.UserWrite : File.GetUnixFileMode(archivePath);
            }
        });

        await new RestoreService(log: log).RunAsync(Request(backup, repository, target, jobs: 2), CancellationToken.None);

        Assert.NotNull(archivePath);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, modeWhileRestoring);
        Assert.False(File.Exists(archivePath));
        Assert.Equal(await ContentHashesAsync(fixture.Cluster, source), await ContentHashesAsync(fixture.Cluster, target));
        Assert.Equal(await fixture.Cluster.SchemaDumpAsync(source), await fixture.Cluster.SchemaDumpAsync(target));
    }

    [Fact]
    public async Task Replacing_an_existing_database_swaps_in_the_backup_and_keeps_the_previous_one()
    {
        var (source, backup, repository) = await NorthwindBackupAsync();
        var target = PostgresFixture.UniqueName("nw_live");
        await CreateOtherDataAsync(fixture.Cluster, target);
        var before = await SnapshotAsync(fixture.Cluster, target);

        var result = await new RestoreService().RunAsync(Request(backup, repository, target), CancellationToken.None);

        Assert.True(result.Replaced);
        Assert.NotNull(result.PreviousDatabase);
        Assert.Matches($"^{target}_pre_restore_[0-9]{{14}}$", result.PreviousDatabase);
        Assert.Equal(await SnapshotAsync(fixture.Cluster, source), await SnapshotAsync(fixture.Cluster, target));
        Assert.Equal(before, await SnapshotAsync(fixture.Cluster, result.PreviousDatabase!));
        Assert.DoesNotContain(await DatabasesAsync(fixture.Cluster), d => d.Contains(RestoreNaming.StagingMarker, StringComparison.Ordinal));
    }

    [Fact]
    public async Task DropPrevious_drops_the_replaced_database()
    {
        var (source, backup, repository) = await NorthwindBackupAsync();
        var target = PostgresFixture.UniqueName("nw_drop");
        await CreateOtherDataAsync(fixture.Cluster, target);
        var databasesBefore = await DatabasesAsync(fixture.Cluster);

        var result = await new RestoreService().RunAsync(Request(backup, repository, target, dropPrevious: true), CancellationToken.None);

        Assert.True(result.Replaced);
        Assert.Null(result.PreviousDatabase);
        Assert.Equal(databasesBefore, await DatabasesAsync(fixture.Cluster));
        Assert.Equal(await SnapshotAsync(fixture.Cluster, source), await SnapshotAsync(fixture.Cluster, target));
    }

    [Fact]
    public async Task A_corrupt_archive_body_that_passes_the_checksum_fails_midway_and_leaves_the_target_as_it_was()
    {
        var (_, backup, repository) = await NorthwindBackupAsync();
        var corrupt = await CorruptBodyKeepingChecksumAsync(backup, repository);
        var target = await LiveTargetAsync("nw_keep");
        var log = new RecordingLog();

        var error = await Assert.ThrowsAsync<RestoreFailedException>(() => new RestoreService(log: log).RunAsync(Request(corrupt, repository, target.Name), CancellationToken.None));

        Assert.Equal("RestoreFailed", error.ErrorId);
        Assert.Contains("pg_restore failed", error.Message, StringComparison.Ordinal);
        Assert.Contains($"\"{target.Name}\" was not changed", error.Message, StringComparison.Ordinal);
        // It did get past the checksum and into a staging database before failing.
        Assert.Contains(log.Messages, m => m.StartsWith("Creating database", StringComparison.Ordinal) && m.Contains(RestoreNaming.StagingMarker, StringComparison.Ordinal));
        await AssertUntouchedAsync(target);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task A_directory_dump_is_unpacked_into_a_private_folder_that_is_removed_afterwards()
    {
        var (source, backup, repository) = await NorthwindBackupAsync(BackupFormat.Directory, BackupCompression.Gzip, jobs: 2);
        var target = PostgresFixture.UniqueName("nw_dir");
        string? folder = null;
        UnixFileMode? modeWhileRestoring = null;
        var log = new RecordingLog(message =>
        {
            if (message.Contains(" jobs from ", StringComparison.Ordinal))
            {
                folder = message[(message.IndexOf(" jobs from ", StringComparison.Ordinal) + " jobs from ".Length)..].TrimEnd('.');
                modeWhileRestoring = File.GetUnixFileMode(folder);
            }
        });

        await new RestoreService(log: log).RunAsync(Request(backup, repository, target, jobs: 2), CancellationToken.None);

        Assert.EndsWith(".dir.tar", backup.Location, StringComparison.Ordinal);
        Assert.NotNull(folder);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, modeWhileRestoring);
        Assert.False(Directory.Exists(folder));
        Assert.Equal(await ContentHashesAsync(fixture.Cluster, source), await ContentHashesAsync(fixture.Cluster, target));
    }

    public static TheoryData<string> HostileTarEntries => new() { "path traversal", "absolute path", "symlink", "hard link", "nested path" };

    [Theory]
    [MemberData(nameof(HostileTarEntries))]
    public async Task A_directory_dump_whose_tar_holds_a_hostile_entry_is_refused_and_nothing_is_written_outside_its_folder(string hostile)
    {
        var (_, backup, repository) = await NorthwindBackupAsync(BackupFormat.Directory, BackupCompression.Gzip);
        var marker = "pgbackup-escape-" + Guid.NewGuid().ToString("N");
        var outside = Path.Combine(Path.GetTempPath(), marker);
        var tar = new MemoryStream();
        await using (var writer = new System.Formats.Tar.TarWriter(tar, leaveOpen: true))
        {
            // A real-looking toc.dat first, so only the hostile entry can be the reason for refusal.
            await writer.WriteEntryAsync(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, "toc.dat") { DataStream = new MemoryStream("PGDMP"u8.ToArray()) });
            System.Formats.Tar.PaxTarEntry entry = hostile switch
            {
                "path traversal" => new(System.Formats.Tar.TarEntryType.RegularFile, "../" + marker) { DataStream = new MemoryStream("owned"u8.ToArray()) },
                "absolute path" => new(System.Formats.Tar.TarEntryType.RegularFile, outside) { DataStream = new MemoryStream("owned"u8.ToArray()) },
                "symlink" => new(System.Formats.Tar.TarEntryType.SymbolicLink, marker) { LinkName = outside },
                "hard link" => new(System.Formats.Tar.TarEntryType.HardLink, marker) { LinkName = "/etc/passwd" },
                _ => new(System.Formats.Tar.TarEntryType.RegularFile, "sub/" + marker) { DataStream = new MemoryStream("owned"u8.ToArray()) },
            };
            await writer.WriteEntryAsync(entry);
        }

        var tampered = await ReplaceArtifactKeepingChecksumAsync(backup, repository, tar.ToArray());
        var target = PostgresFixture.UniqueName("nw_evil");
        var databasesBefore = await DatabasesAsync(fixture.Cluster);

        var error = await Assert.ThrowsAsync<UnsafeDumpException>(() => new RestoreService().RunAsync(Request(tampered, repository, target, jobs: 2), CancellationToken.None));

        Assert.Equal("UnsafeDump", error.ErrorId);
        Assert.DoesNotContain(marker, error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(outside) || Directory.Exists(outside) || new FileInfo(outside).LinkTarget is not null);
        Assert.Equal(databasesBefore, await DatabasesAsync(fixture.Cluster));
    }

    [Fact]
    public async Task A_backup_that_fails_its_checksum_is_refused_before_anything_is_touched()
    {
        var (_, backup, repository) = await NorthwindBackupAsync();
        var bytes = await File.ReadAllBytesAsync(backup.Location!);
        bytes[^10] ^= 0xFF;
        await File.WriteAllBytesAsync(backup.Location!, bytes);
        var existing = await LiveTargetAsync("nw_chk");
        var log = new RecordingLog();

        var replace = await Assert.ThrowsAsync<BackupCorruptException>(() => new RestoreService(log: log).RunAsync(Request(backup, repository, existing.Name), CancellationToken.None));
        var create = await Assert.ThrowsAsync<BackupCorruptException>(() => new RestoreService(log: log).RunAsync(Request(backup, repository, PostgresFixture.UniqueName("nw_none")), CancellationToken.None));

        Assert.Equal("BackupCorrupt", replace.ErrorId);
        Assert.Equal("BackupCorrupt", create.ErrorId);
        Assert.DoesNotContain(log.Messages, m => m.StartsWith("Creating database", StringComparison.Ordinal));
        await AssertUntouchedAsync(existing);
    }

    [Fact]
    public async Task A_killed_pg_restore_leaves_the_target_as_it_was_and_no_staging_database()
    {
        var (backup, repository) = await SlowBackupAsync();
        var target = await LiveTargetAsync("slow_live");

        var restore = new RestoreService().RunAsync(Request(backup, repository, target.Name), CancellationToken.None);
        var staging = await WaitForSleepingRestoreAsync(fixture.Cluster);
        Assert.StartsWith(target.Name + RestoreNaming.StagingMarker, staging, StringComparison.Ordinal);
        Assert.Equal(1, KillPgRestoreFor(staging));

        var error = await Assert.ThrowsAsync<RestoreFailedException>(() => restore);
        Assert.Contains("pg_restore failed", error.Message, StringComparison.Ordinal);
        await AssertUntouchedAsync(target);
    }

    [Fact]
    public async Task Cancelling_a_replace_midway_drops_the_staging_database_and_leaves_the_target_as_it_was()
    {
        var (backup, repository) = await SlowBackupAsync();
        var target = await LiveTargetAsync("slow_cancel");
        using var cancellation = new CancellationTokenSource();

        var restore = new RestoreService().RunAsync(Request(backup, repository, target.Name), cancellation.Token);
        Assert.StartsWith(target.Name + RestoreNaming.StagingMarker, await WaitForSleepingRestoreAsync(fixture.Cluster), StringComparison.Ordinal);
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => restore);
        await AssertUntouchedAsync(target);
    }

    [Fact]
    public async Task Cancelling_a_restore_into_a_new_database_drops_its_staging_database_and_never_creates_the_target()
    {
        var (backup, repository) = await SlowBackupAsync();
        var target = PostgresFixture.UniqueName("slow_new");
        var databasesBefore = await DatabasesAsync(fixture.Cluster);
        using var cancellation = new CancellationTokenSource();

        var restore = new RestoreService().RunAsync(Request(backup, repository, target), cancellation.Token);
        // Issue 9.8: a new target is restored under a staging name too, so a killed restore never leaves
        // a half-restored database under the final name.
        Assert.StartsWith(target + RestoreNaming.StagingMarker, await WaitForSleepingRestoreAsync(fixture.Cluster), StringComparison.Ordinal);
        Assert.DoesNotContain(target, await DatabasesAsync(fixture.Cluster));
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => restore);
        Assert.Equal(databasesBefore, await DatabasesAsync(fixture.Cluster));
    }

    public static TheoryData<string> HostileNames => new()
    {
        "it's a \"quoted\" db",
        "spaces and ünïcødé 日本 🐘",
        "x\"; DROP DATABASE postgres; --",
        new string('n', 40) + "ééééééééééé", // 40 + 22 = 62 bytes
        new string('L', 63),
    };

    [Theory]
    [MemberData(nameof(HostileNames))]
    public async Task Hostile_target_names_are_created_and_replaced_exactly(string target)
    {
        var (source, backup, repository) = await NorthwindBackupAsync();
        var expected = await SnapshotAsync(fixture.Cluster, source);
        await fixture.Cluster.PsqlAsync("postgres", $"DROP DATABASE IF EXISTS {TestSupport.PostgresCluster.QuoteIdentifier(target)};");

        var created = await new RestoreService().RunAsync(Request(backup, repository, target), CancellationToken.None);
        Assert.False(created.Replaced);
        Assert.Contains(target, await DatabasesAsync(fixture.Cluster));
        Assert.Equal(expected, await SnapshotAsync(fixture.Cluster, target));

        await fixture.Cluster.PsqlAsync(target, "CREATE TABLE extra (x int); INSERT INTO extra VALUES (1);");
        var replaced = await new RestoreService().RunAsync(Request(backup, repository, target), CancellationToken.None);

        Assert.True(replaced.Replaced);
        Assert.True(Encoding.UTF8.GetByteCount(replaced.PreviousDatabase!) <= 63);
        var databases = await DatabasesAsync(fixture.Cluster);
        Assert.Contains(replaced.PreviousDatabase!, databases);
        Assert.Contains(target, databases);
        Assert.Contains("postgres", databases);
        Assert.Equal(expected, await SnapshotAsync(fixture.Cluster, target));
        Assert.Equal("1", (await fixture.Cluster.PsqlAsync(replaced.PreviousDatabase!, "SELECT x FROM extra;")).Trim());
        Assert.DoesNotContain(databases, d => d.Contains(RestoreNaming.StagingMarker, StringComparison.Ordinal));
        await fixture.Cluster.PsqlAsync("postgres", $"DROP DATABASE {TestSupport.PostgresCluster.QuoteIdentifier(target)}; DROP DATABASE {TestSupport.PostgresCluster.QuoteIdentifier(replaced.PreviousDatabase!)};");
    }

    [Fact]
    public async Task A_backup_from_a_newer_pg_dump_than_any_pg_restore_here_is_refused_before_anything_is_touched()
    {
        var (_, backup, repository) = await NorthwindBackupAsync();
        var fromTheFuture = await RewriteManifestAsync(backup, repository, "pgDumpVersion", "99.1");
        var target = PostgresFixture.UniqueName("nw_future");
        var databasesBefore = await DatabasesAsync(fixture.Cluster);

        var error = await Assert.ThrowsAsync<BackupNotRestorableException>(() => new RestoreService().RunAsync(Request(fromTheFuture, repository, target), CancellationToken.None));

        Assert.Equal("BackupNotRestorable", error.ErrorId);
        Assert.Contains("pg_restore 99 or later", error.Message, StringComparison.Ordinal);
        Assert.Equal(databasesBefore, await DatabasesAsync(fixture.Cluster));
    }

    [Fact]
    public async Task A_target_name_PostgreSQL_would_shorten_is_refused()
    {
        var (_, backup, repository) = await NorthwindBackupAsync();

        var error = await Assert.ThrowsAsync<InvalidRestoreRequestException>(() => new RestoreService().RunAsync(Request(backup, repository, new string('x', 64)), CancellationToken.None));

        Assert.Equal("InvalidRestoreRequest", error.ErrorId);
    }
}
