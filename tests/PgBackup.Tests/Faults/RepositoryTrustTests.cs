using System.Diagnostics;
using System.Runtime.InteropServices;
using PgBackup.Catalog;
using PgBackup.Diagnostics;
using PgBackup.Errors;
using PgBackup.Retention;
using PgBackup.Storage;
using PgBackup.Tests.Integration;

namespace PgBackup.Tests.Faults;

/// <summary>
/// A local repository is untrusted input (issue 9): links, special files, oversized or crafted manifests
/// and clocks in the future must never make listing hang or retention delete what it should keep.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // links, FIFOs, /dev/zero, Unix file modes
public sealed class RepositoryTrustTests : IDisposable
{
    private static readonly DateTime Now = new(2026, 12, 2, 12, 0, 0, DateTimeKind.Utc);
    private readonly TempFolder _folder = new("pgbackup-trust");
    private readonly TempFolder _outside = new("pgbackup-outside");

    private string Root => Path.Combine(_folder.Path, "repo");

    public void Dispose()
    {
        _folder.Dispose();
        _outside.Dispose();
    }

    [Fact]
    public async Task A_latest_link_to_a_date_folder_lists_each_backup_once_and_KeepLast_1_keeps_the_newest()
    {
        var repository = new LocalRepository(Root);
        var written = await ThreeDaysOfShopAsync(repository);
        Directory.CreateSymbolicLink(Path.Combine(Root, "latest"), Path.Combine(Root, "2026", "12", "01"));

        var listed = await ListAsync(repository);
        var result = await RunAsync(repository, new RetentionPolicy { KeepLast = 1 });

        Assert.Equal(written.Select(b => b.Id).Reverse(), listed.Select(b => b.Id));
        Assert.Equal(2, result.Removed.Count);
        var survivor = Assert.Single(await ListAsync(repository));
        Assert.Equal(written[^1].Id, survivor.Id);
        Assert.True(File.Exists(survivor.Location), survivor.Location);
        Assert.True(File.Exists(survivor.ManifestLocation), survivor.ManifestLocation);
    }

    [Fact]
    public async Task A_date_folder_linked_outside_the_repository_is_neither_listed_nor_touched()
    {
        var repository = new LocalRepository(Root);
        var newest = await SyntheticBackups.WriteAsync(repository, "shop", new DateTime(2026, 12, 1, 1, 0, 0, DateTimeKind.Utc), BackupStatus.Succeeded, "0003");
        var outside = new LocalRepository(_outside.Path);
        var foreign = await SyntheticBackups.WriteAsync(outside, "shop", new DateTime(2025, 1, 1, 1, 0, 0, DateTimeKind.Utc), BackupStatus.Succeeded, "0001");
        Directory.CreateDirectory(Path.Combine(Root, "2025", "01"));
        Directory.CreateSymbolicLink(Path.Combine(Root, "2025", "01", "01"), Path.Combine(_outside.Path, "2025", "01", "01"));

        var listed = await ListAsync(repository);
        var result = await RunAsync(repository, new RetentionPolicy { KeepLast = 1 });

        Assert.Equal(newest.Id, Assert.Single(listed).Id);
        Assert.Empty(result.Removed);
        Assert.True(File.Exists(foreign.Location), foreign.Location);
        Assert.True(File.Exists(foreign.ManifestLocation), foreign.ManifestLocation);
    }

    [Fact]
    public async Task A_folder_swapped_for_a_link_after_listing_is_rechecked_before_anything_is_deleted()
    {
        var repository = new LocalRepository(Root);
        var written = await ThreeDaysOfShopAsync(repository);
        var listed = await ListAsync(repository);
        // The oldest day's folder is replaced by a link to a copy outside the repository.
        var day = Path.Combine(Root, "2026", "11", "29");
        var copy = Path.Combine(_outside.Path, "copy");
        Directory.Move(day, copy);
        Directory.CreateSymbolicLink(day, copy);

        var result = await new RetentionService(clock: new TrustTestClock(Now)).RunAsync(
            new RetentionRequest { Repository = repository, Policy = new RetentionPolicy { KeepLast = 2 }, TimeZone = TimeZoneInfo.Utc, Backups = listed },
            (_, _, _) => Task.FromResult(true),
            CancellationToken.None);

        Assert.Empty(result.Removed);
        Assert.Single(result.Failures);
        Assert.Equal(2, Directory.GetFiles(copy).Length);
        await Assert.ThrowsAnyAsync<PgBackupException>(() => repository.DeleteAsync(written[0].ArtifactKey!, CancellationToken.None));
        Assert.Equal(2, Directory.GetFiles(copy).Length);
    }

    [Fact]
    public async Task A_fifo_named_like_a_manifest_is_skipped_with_a_warning_and_the_rest_is_listed()
    {
        var repository = new LocalRepository(Root);
        var written = await ThreeDaysOfShopAsync(repository);
        const string Fifo = "2026/12/01/shop_20261201T020000Z_ffff.dump.manifest.json";
        MakeFifo(Path.Combine(Root, Fifo));
        var log = new TrustTestLog();

        // Bounded wait: on a listing that hangs the test fails instead of hanging the run.
        var listed = await new BackupCatalog(repository, log).ListAsync(new CatalogQuery(), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(written.Count, listed.Count);
        Assert.Contains(log.Warnings, w => w.Contains(repository.GetObjectLocation(Fifo), StringComparison.Ordinal) && w.Contains("not a regular file", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_manifest_linked_to_dev_zero_is_not_read_and_the_rest_is_listed()
    {
        var repository = new LocalRepository(Root);
        var written = await ThreeDaysOfShopAsync(repository);
        File.CreateSymbolicLink(Path.Combine(Root, "2026", "12", "01", "shop_20261201T030000Z_eeee.dump.manifest.json"), "/dev/zero");

        var listed = await ListAsync(repository).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(written.Count, listed.Count);
        await Assert.ThrowsAnyAsync<PgBackupException>(() => repository.ReadSmallObjectAsync("2026/12/01/shop_20261201T030000Z_eeee.dump.manifest.json", CancellationToken.None));
    }

    [Fact]
    public async Task A_manifest_over_16_MiB_is_invalid_and_skipped_with_a_warning_naming_it()
    {
        var repository = new LocalRepository(Root);
        var written = await ThreeDaysOfShopAsync(repository);
        // Valid JSON of a real manifest, padded past the bound: only the size makes it invalid.
        var manifest = await File.ReadAllTextAsync(written[0].ManifestLocation);
        var big = manifest.TrimEnd().TrimEnd('}') + new string(' ', 17 * 1024 * 1024) + "}";
        const string Key = "2026/12/01/shop_20261201T040000Z_dddd.dump.manifest.json";
        await File.WriteAllTextAsync(Path.Combine(Root, Key), big.Replace(written[0].Id, "shop_20261201T040000Z_dddd", StringComparison.Ordinal));
        var log = new TrustTestLog();

        var listed = await new BackupCatalog(repository, log).ListAsync(new CatalogQuery(), CancellationToken.None);

        Assert.Equal(written.Select(b => b.Id).Reverse(), listed.Select(b => b.Id));
        Assert.Contains(log.Warnings, w => w.Contains(repository.GetObjectLocation(Key), StringComparison.Ordinal) && w.Contains("16 MiB", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_backup_dated_in_the_future_is_never_the_latest_and_never_pushes_the_newest_out()
    {
        var repository = new LocalRepository(Root);
        var written = await ThreeDaysOfShopAsync(repository);
        var future = await SyntheticBackups.WriteAsync(repository, "shop", Now.AddDays(30), BackupStatus.Succeeded, "9999");
        var log = new TrustTestLog();

        var latest = await new BackupCatalog(repository, log, new TrustTestClock(Now)).ListAsync(new CatalogQuery { LatestOnly = true }, CancellationToken.None);
        var result = await new RetentionService(log, new TrustTestClock(Now)).RunAsync(
            new RetentionRequest { Repository = repository, Policy = new RetentionPolicy { KeepLast = 1 }, TimeZone = TimeZoneInfo.Utc },
            (_, _, _) => Task.FromResult(true),
            CancellationToken.None);

        Assert.Equal(written[^1].Id, Assert.Single(latest).Id);
        Assert.Equal([written[0].Id, written[1].Id], result.Removed.Select(b => b.Id));
        Assert.Equal([future.Id, written[^1].Id], (await ListAsync(repository)).Select(b => b.Id));
        Assert.Contains(log.Warnings, w => w.Contains(future.ManifestLocation, StringComparison.Ordinal) && w.Contains("future", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Latest_among_backups_of_the_same_second_is_the_one_that_started_last_whatever_their_random_suffixes()
    {
        // Keys name the start to the second and end in a random suffix: reading keys newest first must not let
        // the suffix decide between two runs of the same second (the later one has the smaller suffix here).
        var repository = new LocalRepository(Root);
        await repository.EnsureWritableAsync(CancellationToken.None);
        var second = new DateTime(2026, 12, 1, 1, 0, 0, DateTimeKind.Utc);
        await SyntheticBackups.WriteAsync(repository, "shop", second.AddMilliseconds(100), BackupStatus.Succeeded, "ffff");
        var later = await SyntheticBackups.WriteAsync(repository, "shop", second.AddMilliseconds(900), BackupStatus.Succeeded, "0000");

        var latest = await new BackupCatalog(repository, new TrustTestLog(), new TrustTestClock(Now)).ListAsync(new CatalogQuery { LatestOnly = true }, CancellationToken.None);

        Assert.Equal(later.Id, Assert.Single(latest).Id);
    }

    [Fact]
    public async Task A_backup_dated_in_the_future_is_never_expired_by_age()
    {
        var repository = new LocalRepository(Root);
        var written = await ThreeDaysOfShopAsync(repository);
        var future = await SyntheticBackups.WriteAsync(repository, "shop", Now.AddYears(5), BackupStatus.Succeeded, "9999");

        var result = await RunAsync(repository, new RetentionPolicy { RetentionDays = 1 });

        Assert.Equal([written[0].Id, written[1].Id], result.Removed.Select(b => b.Id));
        Assert.True(File.Exists(future.Location));
    }

    [Fact]
    public async Task A_crafted_manifest_naming_another_backups_artifact_never_gets_it_deleted()
    {
        var repository = new LocalRepository(Root);
        var written = await ThreeDaysOfShopAsync(repository);
        var newest = written[^1];
        // An old "crm" manifest in the newest backup's folder that names the newest shop artifact.
        var crafted = await SyntheticBackups.WriteAsync(repository, "crm", new DateTime(2026, 12, 1, 0, 30, 0, DateTimeKind.Utc), BackupStatus.Failed, "0bad");
        var text = (await File.ReadAllTextAsync(crafted.ManifestLocation))
            .Replace("\"status\": \"Failed\"", $"\"artifact\": \"{Path.GetFileName(newest.Location)}\",\n  \"status\": \"Succeeded\"", StringComparison.Ordinal);
        File.Delete(crafted.ManifestLocation);
        await File.WriteAllTextAsync(crafted.ManifestLocation, text);
        var crm = await SyntheticBackups.WriteAsync(repository, "crm", new DateTime(2026, 12, 1, 5, 0, 0, DateTimeKind.Utc), BackupStatus.Succeeded, "0c00");

        var result = await RunAsync(repository, new RetentionPolicy { KeepLast = 1 });

        Assert.Contains(result.Removed, b => b.Id == crafted.Id);
        Assert.True(File.Exists(newest.Location), newest.Location);
        Assert.Contains(newest.Id, (await ListAsync(repository)).Select(b => b.Id));
        Assert.True(File.Exists(crm.Location));
    }

    [Fact]
    public async Task Retention_of_shop_never_touches_SHOP()
    {
        var repository = new LocalRepository(Root);
        await ThreeDaysOfShopAsync(repository);
        var upper = new List<BackupInfo>();
        for (var day = 1; day <= 3; day++)
        {
            upper.Add(await SyntheticBackups.WriteAsync(repository, "SHOP", new DateTime(2026, 11, day, 1, 0, 0, DateTimeKind.Utc), BackupStatus.Succeeded, "a00" + day.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        var result = await new RetentionService(clock: new TrustTestClock(Now)).RunAsync(
            new RetentionRequest { Repository = repository, Policy = new RetentionPolicy { KeepLast = 1 }, TimeZone = TimeZoneInfo.Utc, DatabasePatterns = ["shop"] },
            (_, _, _) => Task.FromResult(true),
            CancellationToken.None);
        var listedShop = await new BackupCatalog(repository).ListAsync(new CatalogQuery { DatabasePatterns = ["shop"] }, CancellationToken.None);

        Assert.All(result.Removed, b => Assert.Equal("shop", b.Database));
        Assert.All(upper, b => Assert.True(File.Exists(b.Location), b.Location));
        Assert.Equal(["shop"], listedShop.Select(b => b.Database).Distinct());
    }

    [Fact]
    public async Task Writing_a_manifest_over_an_existing_one_is_refused_and_leaves_it_as_it_was()
    {
        var repository = new LocalRepository(Root);
        var backup = (await ThreeDaysOfShopAsync(repository))[0];
        var before = await File.ReadAllBytesAsync(backup.ManifestLocation);

        var error = await Assert.ThrowsAsync<RepositoryObjectExistsException>(
            () => repository.WriteSmallObjectAsync(backup.ManifestKey, "{}"u8.ToArray(), metadata: null, CancellationToken.None));
        var artifact = await Assert.ThrowsAsync<RepositoryObjectExistsException>(
            () => repository.BeginArtifactAsync(backup.ArtifactKey!, new ArtifactMetadata("shop", Now, "manual", "test"), null, CancellationToken.None));

        Assert.Equal("RepositoryObjectExists", error.ErrorId);
        Assert.Equal("RepositoryObjectExists", artifact.ErrorId);
        Assert.Equal(before, await File.ReadAllBytesAsync(backup.ManifestLocation));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(backup.ManifestLocation)!, "*.tmp-*"));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(backup.ManifestLocation)!, "*.partial"));
    }

    [Fact]
    public async Task Artifacts_and_manifests_are_created_0600_under_a_022_umask()
    {
        var previous = Umask(0x12); // 022
        try
        {
            var repository = new LocalRepository(Root);
            var backup = (await ThreeDaysOfShopAsync(repository))[0];

            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(backup.Location!));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(backup.ManifestLocation));
        }
        finally
        {
            Umask(previous);
        }
    }

    [Fact]
    public async Task A_manifest_with_an_empty_artifact_name_is_not_listed_as_succeeded()
    {
        var repository = new LocalRepository(Root);
        var written = await ThreeDaysOfShopAsync(repository);
        var text = (await File.ReadAllTextAsync(written[0].ManifestLocation)).Replace($"\"artifact\": \"{Path.GetFileName(written[0].Location)}\"", "\"artifact\": \"\"", StringComparison.Ordinal);
        Assert.Contains("\"artifact\": \"\"", text, StringComparison.Ordinal);
        File.Delete(written[0].ManifestLocation);
        await File.WriteAllTextAsync(written[0].ManifestLocation, text);
        var log = new TrustTestLog();

        var listed = await new BackupCatalog(repository, log).ListAsync(new CatalogQuery(), CancellationToken.None);

        Assert.DoesNotContain(written[0].Id, listed.Select(b => b.Id));
        Assert.Contains(log.Warnings, w => w.Contains(written[0].ManifestLocation, StringComparison.Ordinal));
    }

    private static async Task<List<BackupInfo>> ThreeDaysOfShopAsync(IBackupRepository repository)
    {
        await repository.EnsureWritableAsync(CancellationToken.None);
        var written = new List<BackupInfo>();
        foreach (var (day, hex) in new[] { (new DateTime(2026, 11, 29, 1, 0, 0, DateTimeKind.Utc), "0001"), (new DateTime(2026, 11, 30, 1, 0, 0, DateTimeKind.Utc), "0002"), (new DateTime(2026, 12, 1, 1, 0, 0, DateTimeKind.Utc), "0003") })
        {
            written.Add(await SyntheticBackups.WriteAsync(repository, "shop", day, BackupStatus.Succeeded, hex));
        }

        return written;
    }

    private static Task<IReadOnlyList<BackupInfo>> ListAsync(IBackupRepository repository)
        => new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None);

    private static Task<RetentionResult> RunAsync(IBackupRepository repository, RetentionPolicy policy)
        => new RetentionService(clock: new TrustTestClock(Now)).RunAsync(
            new RetentionRequest { Repository = repository, Policy = policy, TimeZone = TimeZoneInfo.Utc },
            (_, _, _) => Task.FromResult(true),
            CancellationToken.None);

    private static void MakeFifo(string path)
    {
        using var process = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
    }

    private static int Umask(int mask) => NativeUmask(mask);

    [DllImport("libc", EntryPoint = "umask")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int NativeUmask(int mask);
}

/// <summary>A clock stopped at one instant.</summary>
internal sealed class TrustTestClock(DateTime utcNow) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => new(DateTime.SpecifyKind(utcNow, DateTimeKind.Utc));
}

/// <summary>Keeps the warnings (thread-safe: the catalog reads in parallel).</summary>
internal sealed class TrustTestLog : IOperationLog
{
    private readonly List<string> _warnings = [];

    public IReadOnlyList<string> Warnings
    {
        get
        {
            lock (_warnings)
            {
                return [.. _warnings];
            }
        }
    }

    public void Verbose(string message)
    {
    }

    public void Warning(string message)
    {
        lock (_warnings)
        {
            _warnings.Add(message);
        }
    }
}
