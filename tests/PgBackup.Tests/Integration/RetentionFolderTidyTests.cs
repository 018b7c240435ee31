using PgBackup.Retention;
using PgBackup.Storage;

namespace PgBackup.Tests.Integration;

/// <summary>RetentionService on a local repository removes the YYYY/MM/DD folders its removals emptied, and nothing else.</summary>
public sealed class RetentionFolderTidyTests : IDisposable
{
    private static readonly DateTime Now = new(2026, 6, 1, 12, 0, 0, DateTimeKind.Utc);
    private readonly TempFolder _folder = new("pgbackup-retention-tidy");
    private readonly List<string> _outside = [];

    [Fact]
    public async Task Retention_removes_the_date_folders_it_emptied_and_keeps_every_other_folder()
    {
        var root = _folder.Path;
        var repository = new LocalRepository(root);
        await SyntheticBackups.WriteAsync(repository, "shop", new DateTime(2020, 3, 4, 1, 0, 0, DateTimeKind.Utc), BackupStatus.Succeeded, "0001");
        await SyntheticBackups.WriteAsync(repository, "shop", new DateTime(2021, 5, 6, 1, 0, 0, DateTimeKind.Utc), BackupStatus.Succeeded, "0002");
        await SyntheticBackups.WriteAsync(repository, "shop", new DateTime(2021, 5, 7, 1, 0, 0, DateTimeKind.Utc), BackupStatus.Succeeded, "0003");
        await SyntheticBackups.WriteAsync(repository, "shop", new DateTime(2026, 5, 31, 1, 0, 0, DateTimeKind.Utc), BackupStatus.Succeeded, "0004");
        // 2021/05 holds something else; 2019/01/01 and 2020/03/09 were empty before the run.
        await File.WriteAllTextAsync(Path.Combine(root, "2021", "05", "notes.txt"), "not ours");
        Directory.CreateDirectory(Path.Combine(root, "2019", "01", "01"));
        Directory.CreateDirectory(Path.Combine(root, "2020", "03", "09"));

        var result = await RunAsync(repository, new RetentionPolicy { KeepLast = 1 });

        Assert.Equal(3, result.Removed.Count);
        Assert.False(Directory.Exists(Path.Combine(root, "2020", "03", "04")));
        Assert.True(Directory.Exists(Path.Combine(root, "2020", "03", "09")), "a folder already empty stays, and so do its parents");
        Assert.False(Directory.Exists(Path.Combine(root, "2021", "05", "06")));
        Assert.False(Directory.Exists(Path.Combine(root, "2021", "05", "07")));
        Assert.True(File.Exists(Path.Combine(root, "2021", "05", "notes.txt")));
        Assert.True(Directory.Exists(Path.Combine(root, "2019", "01", "01")));
        Assert.True(Directory.Exists(Path.Combine(root, "2026", "05", "31")));
        Assert.True(Directory.Exists(root));
    }

    [Fact]
    public async Task Retention_removes_year_and_month_folders_once_empty_but_never_the_root()
    {
        var root = _folder.Path;
        var repository = new LocalRepository(root);
        await SyntheticBackups.WriteAsync(repository, "shop", new DateTime(2020, 3, 4, 1, 0, 0, DateTimeKind.Utc), BackupStatus.Succeeded, "0001");
        await SyntheticBackups.WriteAsync(repository, "shop", new DateTime(2020, 3, 5, 1, 0, 0, DateTimeKind.Utc), BackupStatus.Succeeded, "0002");
        await SyntheticBackups.WriteAsync(repository, "shop", new DateTime(2026, 5, 31, 1, 0, 0, DateTimeKind.Utc), BackupStatus.Succeeded, "0003");

        await RunAsync(repository, new RetentionPolicy { KeepLast = 1 });

        Assert.False(Directory.Exists(Path.Combine(root, "2020")));
        Assert.Equal(["2026"], Directory.GetDirectories(root).Select(Path.GetFileName));
        Assert.True(Directory.Exists(root));
    }

    [Fact]
    public async Task Retention_never_removes_a_folder_through_a_link()
    {
        var root = _folder.Path;
        var repository = new LocalRepository(root);
        await SyntheticBackups.WriteAsync(repository, "shop", new DateTime(2026, 5, 31, 1, 0, 0, DateTimeKind.Utc), BackupStatus.Succeeded, "0003");
        // A link named like an emptied month, pointing outside the repository at an empty folder.
        var outside = Path.Combine(Path.GetTempPath(), "pgbackup-tidy-outside-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(outside, "04"));
        _outside.Add(outside);
        Directory.CreateSymbolicLink(Path.Combine(root, "2020"), outside);

        Assert.False(await ((IBackupRepository)repository).TryRemoveEmptyFolderAsync("2020/04", CancellationToken.None));
        Assert.False(await ((IBackupRepository)repository).TryRemoveEmptyFolderAsync("2020", CancellationToken.None));
        Assert.False(await ((IBackupRepository)repository).TryRemoveEmptyFolderAsync(string.Empty, CancellationToken.None));
        Assert.True(Directory.Exists(Path.Combine(outside, "04")));
        Assert.True(Directory.Exists(Path.Combine(root, "2020")));
    }

    public void Dispose()
    {
        _folder.Dispose();
        foreach (var path in _outside)
        {
            Directory.Delete(path, recursive: true);
        }
    }

    private static Task<RetentionResult> RunAsync(IBackupRepository repository, RetentionPolicy policy)
        => new RetentionService(clock: new FixedClock(Now)).RunAsync(
            new RetentionRequest { Repository = repository, Policy = policy, TimeZone = TimeZoneInfo.Utc },
            (_, _, _) => Task.FromResult(true),
            CancellationToken.None);

    private sealed class FixedClock(DateTime utcNow) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => new(DateTime.SpecifyKind(utcNow, DateTimeKind.Utc));
    }
}
