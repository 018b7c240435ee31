using System.Security.Cryptography;
using System.Text;
using PgBackup.Backup;
using PgBackup.Catalog;
using PgBackup.Connection;
using PgBackup.Errors;
using PgBackup.PgTools;
using PgBackup.Storage;

namespace PgBackup.Tests.Integration;

/// <summary>New-PgBackup's engine against a real cluster and real pg_dump, into a local repository.</summary>
[Collection(PostgresCollection.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // Unix file modes, /proc, shell-script fakes.
public class BackupServiceTests(PostgresFixture pg, ScramPostgresFixture scram) : IDisposable
{
    private readonly TempFolder _repositoryFolder = new();

    public void Dispose() => _repositoryFolder.Dispose();

    private LocalRepository Repository => new(_repositoryFolder.Path);

    private BackupRequest Request(string database, PgConnectionSettings connection) => new()
    {
        Database = database,
        Connection = connection,
        Repository = Repository,
        Tags = new Dictionary<string, string> { ["suite"] = "xunit" },
    };

    private string[] RepositoryFiles() => Directory.GetFiles(_repositoryFolder.Path, "*", SearchOption.AllDirectories);

    private static string Sha256Of(string path)
    {
        using var file = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(file)).ToLowerInvariant();
    }

    [Fact]
    public async Task Northwind_backup_restores_with_plain_pg_restore_to_the_same_rows_and_schema()
    {
        var source = PostgresFixture.UniqueName("nw_src");
        var copy = PostgresFixture.UniqueName("nw_copy");
        await pg.Cluster.CreateNorthwindAsync(source);

        // Gzip: pg_dump's own compression, which pg_restore reads as stored (the default zstd's own one-command
        // restore is The_restore_hint_run_literally_in_bash_restores_the_backup_without_PgBackup).
        var backup = await new BackupService().RunAsync(Request(source, pg.Connection()) with { Compression = BackupCompression.Gzip }, CancellationToken.None);

        Assert.Equal(BackupStatus.Succeeded, backup.Status);
        Assert.Equal(source, backup.Database);
        Assert.Equal($"127.0.0.1:{pg.Cluster.Port}", backup.Server);
        Assert.StartsWith("15", backup.ServerVersion ?? string.Empty, StringComparison.Ordinal);
        await pg.Cluster.CreateDatabaseAsync(copy);
        await ProcessRunner.RunAsync(pg.Cluster.Tool("pg_restore"), ["--exit-on-error", "-h", pg.Cluster.SocketDirectory, "-p", pg.Cluster.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-U", "postgres", "-d", copy, backup.Location!]);

        var sourceCounts = await pg.Cluster.RowCountsAsync(source);
        Assert.Equal(14, sourceCounts.Count);
        Assert.Equal(830, sourceCounts["public.orders"]);
        Assert.Equal(sourceCounts, await pg.Cluster.RowCountsAsync(copy));
        Assert.Equal(await pg.Cluster.SchemaDumpAsync(source), await pg.Cluster.SchemaDumpAsync(copy));
    }

    [Fact]
    public async Task Manifest_records_the_stored_bytes_exactly_and_is_read_back_equal()
    {
        var database = PostgresFixture.UniqueName("manifest");
        await pg.Cluster.CreateNorthwindAsync(database);

        var backup = await new BackupService().RunAsync(Request(database, pg.Connection()) with { Environment = "test" }, CancellationToken.None);

        Assert.Equal(new FileInfo(backup.Location!).Length, backup.SizeBytes);
        Assert.Equal(Sha256Of(backup.Location!), backup.Sha256);
        Assert.Matches(@"^\d{4}/\d{2}/\d{2}/" + database + @"_\d{8}T\d{6}Z_[0-9a-f]{4}\.dump\.zst$", backup.ArtifactKey);
        Assert.True(File.Exists(backup.ManifestLocation));
        Assert.DoesNotContain(RepositoryFiles(), f => f.EndsWith(LocalRepository.PartialSuffix, StringComparison.Ordinal));

        var listed = Assert.Single(await new BackupCatalog(Repository).ListAsync(new CatalogQuery(), CancellationToken.None));
        foreach (var property in typeof(BackupInfo).GetProperties())
        {
            var expected = property.GetValue(backup);
            var actual = property.GetValue(listed);
            if (expected is System.Collections.IEnumerable enumerable and not string)
            {
                Assert.Equal(enumerable.Cast<object>(), ((System.Collections.IEnumerable)actual!).Cast<object>());
            }
            else
            {
                Assert.True(Equals(expected, actual), $"{property.Name}: {expected} != {actual}");
            }
        }
    }

    [Fact]
    public async Task A_password_is_used_but_never_stored()
    {
        var database = PostgresFixture.UniqueName("secret");
        await scram.Cluster.CreateDatabaseAsync(database);
        await scram.Cluster.PsqlAsync(database, "CREATE TABLE t(x int); INSERT INTO t SELECT generate_series(1, 100);");

        var backup = await new BackupService().RunAsync(Request(database, scram.Connection()), CancellationToken.None);

        Assert.Equal(BackupStatus.Succeeded, backup.Status);
        var manifestText = await File.ReadAllTextAsync(backup.ManifestLocation);
        Assert.DoesNotContain(ScramPostgresFixture.Password, manifestText, StringComparison.Ordinal);
        Assert.DoesNotContain(Uri.EscapeDataString(ScramPostgresFixture.Password), manifestText, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t", Encoding.Latin1.GetString(await File.ReadAllBytesAsync(backup.Location!)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_0600_pgpass_file_supplies_the_password_as_with_psql()
    {
        var database = PostgresFixture.UniqueName("pgpass");
        await scram.Cluster.CreateDatabaseAsync(database);
        var passFile = Path.Combine(_repositoryFolder.Path, "..", "pgpass-" + Guid.NewGuid().ToString("N"));
        await File.WriteAllTextAsync(passFile, $"127.0.0.1:{scram.Cluster.Port}:*:postgres:{ScramPostgresFixture.Password.Replace(":", "\\:", StringComparison.Ordinal)}\n");
        File.SetUnixFileMode(passFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        try
        {
            var connection = scram.Connection(password: null) with { PassFile = passFile };

            var backup = await new BackupService().RunAsync(Request(database, connection), CancellationToken.None);

            Assert.Equal(BackupStatus.Succeeded, backup.Status);
        }
        finally
        {
            File.Delete(passFile);
        }
    }

    [Fact]
    public async Task An_unknown_database_fails_with_DatabaseNotFound_and_records_a_Failed_attempt_only()
    {
        var error = await Assert.ThrowsAsync<DatabaseNotFoundException>(() => new BackupService().RunAsync(Request("no_such_db", pg.Connection()), CancellationToken.None));

        Assert.Equal("DatabaseNotFound", error.ErrorId);
        Assert.Contains("no_such_db", error.Message, StringComparison.Ordinal);
        await AssertOnlyAFailedManifestAsync("no_such_db");
    }

    [Fact]
    public async Task A_wrong_password_fails_with_AuthenticationFailed_without_echoing_it()
    {
        const string wrong = "Wr0ng-Pa55word!";
        var database = PostgresFixture.UniqueName("wrongpw");
        await scram.Cluster.CreateDatabaseAsync(database);

        var error = await Assert.ThrowsAsync<AuthenticationFailedException>(() => new BackupService().RunAsync(Request(database, scram.Connection(password: wrong)), CancellationToken.None));

        Assert.Equal("AuthenticationFailed", error.ErrorId);
        Assert.DoesNotContain(wrong, error.Message, StringComparison.Ordinal);
        var manifest = await AssertOnlyAFailedManifestAsync(database);
        Assert.DoesNotContain(wrong, await File.ReadAllTextAsync(manifest.ManifestLocation), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_port_fails_with_ConnectionFailed()
    {
        var closedPort = TestEnvironment.GetFreeTcpPort();

        var error = await Assert.ThrowsAsync<ConnectionFailedException>(() => new BackupService().RunAsync(
            Request("postgres", pg.Connection() with { Port = closedPort }), CancellationToken.None));

        Assert.Equal("ConnectionFailed", error.ErrorId);
        Assert.Contains(closedPort.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
        await AssertOnlyAFailedManifestAsync("postgres");
    }

    [Fact]
    public async Task A_pg_dump_killed_midway_fails_with_PgDumpFailed_and_leaves_no_partial_file()
    {
        var database = PostgresFixture.UniqueName("killed");
        await CreateBigDatabaseAsync(database, rows: 1000);
        await using var heldLock = await pg.Cluster.HoldExclusiveLockAsync(database, "big");

        var backup = new BackupService().RunAsync(Request(database, pg.Connection()), CancellationToken.None);
        await pg.Cluster.WaitForBlockedDumpAsync(database);
        Assert.NotNull(FindPgDump(database));
        FindPgDump(database)!.Kill();

        var error = await Assert.ThrowsAsync<PgDumpFailedException>(() => backup);
        Assert.Equal("PgDumpFailed", error.ErrorId);
        await AssertOnlyAFailedManifestAsync(database);
    }

    [Fact]
    public async Task Cancelling_midway_removes_the_partial_file_and_records_nothing()
    {
        var database = PostgresFixture.UniqueName("cancel");
        await CreateBigDatabaseAsync(database, rows: 1000);
        await using var heldLock = await pg.Cluster.HoldExclusiveLockAsync(database, "big");
        using var cancellation = new CancellationTokenSource();

        var backup = new BackupService().RunAsync(Request(database, pg.Connection()), cancellation.Token);
        await pg.Cluster.WaitForBlockedDumpAsync(database);
        Assert.Single(RepositoryFiles(), f => f.EndsWith(LocalRepository.PartialSuffix, StringComparison.Ordinal));
        cancellation.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => backup);
        Assert.Empty(RepositoryFiles());
        Assert.Null(FindPgDump(database));
    }

    [Fact]
    public async Task A_directory_dump_reports_its_folder_while_pg_dump_writes_it_then_the_storing_against_the_folder_size()
    {
        var database = PostgresFixture.UniqueName("dirprogress");
        await CreateBigDatabaseAsync(database, rows: 20_000);
        var progress = new RecordingProgress();
        Task<BackupInfo> backup;
        await using (await pg.Cluster.HoldExclusiveLockAsync(database, "big"))
        {
            backup = new BackupService(progress: progress).RunAsync(Request(database, pg.Connection()) with { Format = BackupFormat.Directory, Compression = BackupCompression.Gzip, Jobs = 2 }, CancellationToken.None);
            await pg.Cluster.WaitForBlockedDumpAsync(database);
            // pg_dump runs, held before any table data: the bar must move on without a byte through the pipeline.
            Assert.True(await progress.WaitForAsync(BackupService.FolderWrittenStatus), "no folder report while pg_dump was held");
            Assert.False(backup.IsCompleted);
        }

        var stored = await backup;

        var reports = progress.Reports.ToList();
        var folder = reports.Where(report => report.Status == BackupService.FolderWrittenStatus).ToList();
        Assert.True(folder.Count >= 2, "a report while pg_dump was held, and the final size");
        Assert.All(folder, report => Assert.Null(report.BytesTotal));
        Assert.Equal(folder.Select(report => report.BytesDone).Order(), folder.Select(report => report.BytesDone));
        // The last folder report is the folder's final size: every member of the stored tar.
        long members = 0;
        await using (var tar = new System.Formats.Tar.TarReader(File.OpenRead(stored.Location!)))
        {
            while (await tar.GetNextEntryAsync() is { } entry)
            {
                members += entry.Length;
            }
        }

        Assert.True(members > 100_000, $"the dump holds the table's data ({members} bytes)");
        Assert.Equal(members, folder[^1].BytesDone);
        // Then the storing, reported from its first chunk against that size, after every folder report.
        var storing = reports.FindIndex(report => report.Status == BackupService.FolderStoredStatus);
        Assert.True(storing > reports.LastIndexOf(folder[^1]), "the storing follows pg_dump");
        Assert.All(reports.Skip(storing), report => Assert.Equal((BackupService.FolderStoredStatus, (long?)members), (report.Status, report.BytesTotal)));
    }

    [Fact]
    public async Task Hostile_database_names_back_up_and_list_under_their_real_name()
    {
        const string hostile = "we\"ird 'name'; DROP TABLE x; -- ünï/ç\\ode";
        await pg.Cluster.CreateDatabaseAsync(hostile);
        await pg.Cluster.PsqlAsync(hostile, "CREATE TABLE \"tab le\"(x int); INSERT INTO \"tab le\" VALUES (1), (2);");

        var backup = await new BackupService().RunAsync(Request(hostile, pg.Connection()), CancellationToken.None);

        Assert.Equal(BackupStatus.Succeeded, backup.Status);
        Assert.True(File.Exists(backup.Location));
        Assert.DoesNotContain("/", Path.GetFileName(backup.Location!)[..^5], StringComparison.Ordinal);
        var listed = Assert.Single(await new BackupCatalog(Repository).ListAsync(new CatalogQuery { DatabasePatterns = ["we*"] }, CancellationToken.None));
        Assert.Equal(hostile, listed.Database);
        Assert.Equal(backup.Sha256, listed.Sha256);
    }

    [Theory]
    [InlineData(BackupFormat.Plain, BackupCompression.Gzip, ".sql.gz")]
    [InlineData(BackupFormat.Tar, BackupCompression.Zstd, ".tar.zst")]
    [InlineData(BackupFormat.Custom, BackupCompression.Lz4, ".dump.lz4")]
    public async Task Plain_and_tar_formats_are_compressed_by_the_stream_stage_and_decode_to_a_real_dump(BackupFormat format, BackupCompression compression, string extension)
    {
        var database = PostgresFixture.UniqueName("fmt");
        await pg.Cluster.CreateNorthwindAsync(database);

        var backup = await new BackupService().RunAsync(Request(database, pg.Connection()) with { Format = format, Compression = compression }, CancellationToken.None);

        Assert.EndsWith(extension, backup.Location, StringComparison.Ordinal);
        Assert.Equal(CompressionStage.Stream, backup.CompressionStage);
        Assert.Equal(Sha256Of(backup.Location!), backup.Sha256);
        await using var dump = await Artifacts.BackupArtifactReader.OpenDumpAsync(Repository, backup, CancellationToken.None);
        var head = new byte[512];
        await dump.ReadExactlyAsync(head);
        var text = Encoding.ASCII.GetString(head);
        switch (format)
        {
            case BackupFormat.Plain:
                Assert.Contains("PostgreSQL database dump", text, StringComparison.Ordinal);
                break;
            case BackupFormat.Tar:
                Assert.Equal("ustar", text.Substring(257, 5));
                break;
            default:
                Assert.StartsWith("PGDMP", text, StringComparison.Ordinal);
                break;
        }
    }

    [Theory]
    [InlineData(BackupFormat.Custom, BackupCompression.Zstd, 1)]
    [InlineData(BackupFormat.Custom, BackupCompression.Gzip, 1)]
    [InlineData(BackupFormat.Custom, BackupCompression.None, 1)]
    [InlineData(BackupFormat.Plain, BackupCompression.Lz4, 1)]
    [InlineData(BackupFormat.Tar, BackupCompression.Gzip, 1)]
    [InlineData(BackupFormat.Directory, BackupCompression.Gzip, 2)]
    [InlineData(BackupFormat.Directory, BackupCompression.Zstd, 2)]
    public async Task The_restore_hint_run_literally_in_bash_restores_the_backup_without_PgBackup(BackupFormat format, BackupCompression compression, int jobs)
    {
        var source = PostgresFixture.UniqueName("hint_src");
        var target = PostgresFixture.UniqueName("hint_dst");
        await pg.Cluster.CreateNorthwindAsync(source);
        var backup = await new BackupService().RunAsync(Request(source, pg.Connection()) with { Format = format, Compression = compression, Jobs = jobs }, CancellationToken.None);
        await pg.Cluster.CreateDatabaseAsync(target);

        Assert.NotNull(backup.RestoreHint);
        var listed = Assert.Single(await new BackupCatalog(Repository).ListAsync(new CatalogQuery { DatabasePatterns = [source] }, CancellationToken.None));
        Assert.Equal(backup.RestoreHint, listed.RestoreHint);
        // The hint as printed, in the artifact's folder, with only the libpq environment a user would set.
        await ProcessRunner.RunAsync("bash", ["-c", "cd \"$HINT_FOLDER\" && " + backup.RestoreHint], new Dictionary<string, string>
        {
            ["HINT_FOLDER"] = Path.GetDirectoryName(backup.Location)!,
            ["PATH"] = Path.GetDirectoryName(pg.Cluster.Tool("pg_restore")) + ":" + Environment.GetEnvironmentVariable("PATH"),
            ["PGHOST"] = pg.Cluster.SocketDirectory,
            ["PGPORT"] = pg.Cluster.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["PGUSER"] = PostgresCluster.Superuser,
            ["PGDATABASE"] = target,
        });

        Assert.Equal(await RestoreTestSupport.SnapshotAsync(pg.Cluster, source), await RestoreTestSupport.SnapshotAsync(pg.Cluster, target));
        // Nothing left next to the artifact but the backup itself.
        Assert.Equal([backup.Location!, backup.ManifestLocation], Directory.GetFileSystemEntries(Path.GetDirectoryName(backup.Location)!).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_pg_dump_older_than_the_server_is_refused_before_any_artifact_is_written()
    {
        var fakeBin = Path.Combine(_repositoryFolder.Path, "..", "oldbin-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(fakeBin);
        var fake = Path.Combine(fakeBin, "pg_dump");
        await File.WriteAllTextAsync(fake, "#!/bin/sh\necho 'pg_dump (PostgreSQL) 12.22'\n");
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            var locator = new PgToolLocator(name => name == PgToolLocator.BinFolderVariable ? fakeBin : Environment.GetEnvironmentVariable(name));

            var error = await Assert.ThrowsAsync<PgToolVersionMismatchException>(() => new BackupService(locator).RunAsync(Request("postgres", pg.Connection()), CancellationToken.None));

            Assert.Contains("12.22", error.Message, StringComparison.Ordinal);
            await AssertOnlyAFailedManifestAsync("postgres");
        }
        finally
        {
            Directory.Delete(fakeBin, recursive: true);
        }
    }

    private async Task<BackupInfo> AssertOnlyAFailedManifestAsync(string database)
    {
        var files = RepositoryFiles();
        Assert.DoesNotContain(files, f => f.EndsWith(LocalRepository.PartialSuffix, StringComparison.Ordinal));
        Assert.All(files, f => Assert.EndsWith(BackupNaming.ManifestSuffix, f, StringComparison.Ordinal));
        var listed = Assert.Single(await new BackupCatalog(Repository).ListAsync(new CatalogQuery(), CancellationToken.None));
        Assert.Equal(BackupStatus.Failed, listed.Status);
        Assert.Equal(database, listed.Database);
        Assert.Null(listed.Location);
        Assert.False(string.IsNullOrWhiteSpace(listed.Error));
        Assert.Empty(await new BackupCatalog(Repository).ListAsync(new CatalogQuery { Status = BackupStatus.Succeeded }, CancellationToken.None));
        return listed;
    }

    private async Task CreateBigDatabaseAsync(string database, int rows)
    {
        await pg.Cluster.CreateDatabaseAsync(database);
        await pg.Cluster.PsqlAsync(database, $"CREATE TABLE big AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text) AS payload FROM generate_series(1, {rows}) g;");
    }

    private static System.Diagnostics.Process? FindPgDump(string database) => LocalProcesses.Find("pg_dump", database);
}
