using PgBackup.Catalog;
using PgBackup.Diagnostics;
using PgBackup.Errors;
using PgBackup.Retention;
using PgBackup.Storage;

namespace PgBackup.Tests.Integration;

/// <summary>
/// RetentionService against a real repository. Every store must pass the same tests with the same
/// answers: a store's test class derives from this one and only says how to make an empty repository
/// (<see cref="LocalRetentionServiceTests"/>; an S3 class against s3rver joins the same way).
/// </summary>
public abstract class RetentionServiceContract
{
    public static IEnumerable<object[]> SixtyDayCases => SixtyDayScenario.Cases();

    /// <summary>A new, empty repository that exists (the test may write into it).</summary>
    private protected abstract Task<IBackupRepository> CreateRepositoryAsync();

    /// <summary>A repository location that does not exist, for the not-found case.</summary>
    private protected abstract IBackupRepository MissingRepository();

    [Theory]
    [MemberData(nameof(SixtyDayCases))]
    public async Task Sixty_days_of_backups_leave_exactly_each_rules_survivors(string policy, string[] expectedSurvivors)
    {
        var repository = await CreateRepositoryAsync();
        var written = await SixtyDayScenario.WriteAsync(repository);

        var result = await RunAsync(repository, new RetentionPolicyText(policy).ToPolicy(), SixtyDayScenario.Now);

        var survivors = await ListAsync(repository);
        Assert.Equal(expectedSurvivors.Order(StringComparer.Ordinal), survivors.Select(SixtyDayScenario.ShortLabel).Order(StringComparer.Ordinal));
        Assert.Equal(written.Count - expectedSurvivors.Length, result.Removed.Count);
        Assert.Equal(result.Removed.Sum(b => b.SizeBytes), result.BytesFreed);
        Assert.True(result.BytesFreed > 0);
        Assert.Empty(result.Failures);
        Assert.Equal(expectedSurvivors.Length, result.Evaluation.Kept.Count());
        await AssertNoArtifactWithoutManifestAsync(repository, survivors);
        foreach (var removed in result.Removed.Where(b => b.ArtifactKey is not null))
        {
            Assert.False(await repository.ExistsAsync(removed.ArtifactKey!, CancellationToken.None), removed.ArtifactKey);
        }
    }

    [Fact]
    public async Task When_every_backup_is_older_than_the_cutoff_the_newest_succeeded_one_survives()
    {
        var repository = await CreateRepositoryAsync();
        await SyntheticBackups.WriteAsync(repository, "shop", new DateTime(2025, 1, 1, 1, 0, 0, DateTimeKind.Utc), BackupStatus.Succeeded, "0001");
        var newestGood = await SyntheticBackups.WriteAsync(repository, "shop", new DateTime(2025, 1, 2, 1, 0, 0, DateTimeKind.Utc), BackupStatus.Succeeded, "0002");
        await SyntheticBackups.WriteAsync(repository, "shop", new DateTime(2025, 1, 3, 1, 0, 0, DateTimeKind.Utc), BackupStatus.Failed, "0003");

        var result = await RunAsync(repository, new RetentionPolicy { RetentionDays = 30 }, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc));

        var survivor = Assert.Single(await ListAsync(repository));
        Assert.Equal(newestGood.Id, survivor.Id);
        Assert.True(await repository.ExistsAsync(newestGood.ArtifactKey!, CancellationToken.None));
        Assert.Equal(2, result.Removed.Count);
    }

    [Fact]
    public async Task Declined_removals_remove_nothing_and_were_asked_once_per_expired_backup()
    {
        var repository = await CreateRepositoryAsync();
        await SixtyDayScenario.WriteAsync(repository);
        var before = await ListObjectKeysAsync(repository);
        var asked = new List<(string Target, string Action)>();

        var result = await new RetentionService(clock: new FixedClock(SixtyDayScenario.Now)).RunAsync(
            new RetentionRequest { Repository = repository, Policy = new RetentionPolicy { KeepLast = 3 }, TimeZone = TimeZoneInfo.Utc },
            (target, action, _) =>
            {
                asked.Add((target, action));
                return Task.FromResult(false);
            },
            CancellationToken.None);

        Assert.Equal(before, await ListObjectKeysAsync(repository));
        Assert.Empty(result.Removed);
        Assert.Equal(0, result.BytesFreed);
        Assert.Equal(65 - 8, result.Declined);
        var expiredIds = result.Evaluation.Expired.Select(d => d.Backup.Id).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expiredIds, asked.Select(a => a.Target.Split(' ')[0]).Order(StringComparer.Ordinal));
        Assert.All(asked, a => Assert.Equal("Remove expired backup (no rule of \"KeepLast 3\" keeps it)", a.Action));
    }

    [Fact]
    public async Task The_manifest_goes_before_its_artifact()
    {
        var inner = await CreateRepositoryAsync();
        await SixtyDayScenario.WriteAsync(inner);
        var repository = new DeleteRecordingRepository(inner);

        var result = await RunAsync(repository, new RetentionPolicy { KeepLast = 59 }, SixtyDayScenario.Now);

        var removed = Assert.Single(result.Removed);
        Assert.Equal([removed.ManifestKey, removed.ArtifactKey!], repository.Deleted);
    }

    [Fact]
    public async Task Cancelling_stops_between_backups_and_never_splits_a_pair()
    {
        var repository = await CreateRepositoryAsync();
        var written = await SixtyDayScenario.WriteAsync(repository);
        using var cancellation = new CancellationTokenSource();
        var asked = 0;

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new RetentionService(clock: new FixedClock(SixtyDayScenario.Now)).RunAsync(
            new RetentionRequest { Repository = repository, Policy = new RetentionPolicy { KeepLast = 1 }, TimeZone = TimeZoneInfo.Utc },
            (_, _, _) =>
            {
                // Ctrl+C while the second removal is being confirmed.
                if (++asked == 2)
                {
                    cancellation.Cancel();
                }

                return Task.FromResult(true);
            },
            cancellation.Token));

        var survivors = await ListAsync(repository);
        Assert.InRange(survivors.Count, written.Count - 2, written.Count - 1);
        await AssertNoArtifactWithoutManifestAsync(repository, survivors);
    }

    [Fact]
    public async Task Piped_backups_are_evaluated_alone_and_nothing_else_is_touched()
    {
        var repository = await CreateRepositoryAsync();
        await SixtyDayScenario.WriteAsync(repository);
        var shop = (await ListAsync(repository)).Where(b => b.Database == "shop" && b.StartedAt < new DateTime(2026, 2, 1, 0, 0, 0, DateTimeKind.Utc)).ToList();

        var result = await new RetentionService(clock: new FixedClock(SixtyDayScenario.Now)).RunAsync(
            new RetentionRequest { Repository = repository, Policy = new RetentionPolicy { KeepLast = 0 }, TimeZone = TimeZoneInfo.Utc, Backups = shop },
            (_, _, _) => Task.FromResult(true),
            CancellationToken.None);

        // January's newest (Jan 31) is the newest Succeeded among what was piped in, so it stays too.
        var survivors = (await ListAsync(repository)).Select(SixtyDayScenario.ShortLabel).ToList();
        Assert.Equal(30, result.Removed.Count);
        Assert.Contains("shop 01-31 S", survivors);
        Assert.DoesNotContain("shop 01-30 S", survivors);
        Assert.Equal(65 - 30, survivors.Count);
    }

    [Fact]
    public async Task A_piped_backup_that_is_already_gone_is_skipped_with_a_warning()
    {
        var repository = await CreateRepositoryAsync();
        var old = await SyntheticBackups.WriteAsync(repository, "shop", new DateTime(2025, 1, 1, 1, 0, 0, DateTimeKind.Utc), BackupStatus.Succeeded, "0001");
        var newest = await SyntheticBackups.WriteAsync(repository, "shop", new DateTime(2025, 1, 2, 1, 0, 0, DateTimeKind.Utc), BackupStatus.Succeeded, "0002");
        await repository.DeleteAsync(old.ManifestKey, CancellationToken.None);
        var log = new RecordingLog();

        var result = await new RetentionService(log, new FixedClock(SixtyDayScenario.Now)).RunAsync(
            new RetentionRequest { Repository = repository, Policy = new RetentionPolicy { KeepLast = 1 }, Backups = [old, newest] },
            (_, _, _) => Task.FromResult(true),
            CancellationToken.None);

        Assert.Empty(result.Removed);
        Assert.Empty(result.Failures);
        Assert.Contains(log.Warnings, w => w.Contains(old.Id, StringComparison.Ordinal) && w.Contains("already gone", StringComparison.Ordinal));
        // Its artifact was not deleted blindly: only a manifest of ours vouches for an artifact.
        Assert.True(await repository.ExistsAsync(old.ArtifactKey!, CancellationToken.None));
    }

    [Fact]
    public async Task Incomplete_leftovers_are_removed_only_when_asked_and_older_than_a_day()
    {
        var repository = await CreateRepositoryAsync();
        var backup = await SyntheticBackups.WriteAsync(repository, "shop", DateTime.UtcNow.AddMinutes(-5), BackupStatus.Succeeded, "0001");
        const string Partial = "2026/03/02/shop_20260302T010000Z_0abc.dump.partial";
        const string NoManifest = "2026/03/02/shop_20260302T020000Z_0abd.dump";
        const string NotOurs = "2026/03/02/readme.txt";
        foreach (var key in new[] { Partial, NoManifest, NotOurs })
        {
            await repository.WriteSmallObjectAsync(key, new byte[100], metadata: null, CancellationToken.None);
        }

        var everything = await ListObjectKeysAsync(repository);
        var policy = new RetentionPolicy { KeepLast = 100 };

        // A day later, a backup may still be in progress: untouched. Without -IncludeIncomplete: never touched.
        Assert.Empty((await RunAsync(repository, policy, DateTime.UtcNow.AddHours(23), includeIncomplete: true)).RemovedIncomplete);
        Assert.Empty((await RunAsync(repository, policy, DateTime.UtcNow.AddHours(25), includeIncomplete: false)).RemovedIncomplete);
        Assert.Equal(everything, await ListObjectKeysAsync(repository));

        var result = await RunAsync(repository, policy, DateTime.UtcNow.AddHours(25), includeIncomplete: true);

        Assert.Equal([Partial, NoManifest], result.RemovedIncomplete.Select(o => o.Key).Order(StringComparer.Ordinal));
        Assert.Equal(200, result.BytesFreed);
        Assert.Equal(everything.Except([Partial, NoManifest]), await ListObjectKeysAsync(repository));
        Assert.Equal(backup.Id, Assert.Single(await ListAsync(repository)).Id);
    }

    [Fact]
    public async Task Database_patterns_limit_what_is_evaluated()
    {
        var repository = await CreateRepositoryAsync();
        await SixtyDayScenario.WriteAsync(repository);

        var result = await new RetentionService(clock: new FixedClock(SixtyDayScenario.Now)).RunAsync(
            new RetentionRequest { Repository = repository, Policy = new RetentionPolicy { KeepLast = 1 }, DatabasePatterns = ["c?m"] },
            (_, _, _) => Task.FromResult(true),
            CancellationToken.None);

        Assert.Equal(["crm 01-01 S", "crm 01-02 S"], result.Removed.Select(SixtyDayScenario.ShortLabel));
        Assert.Equal(63, (await ListAsync(repository)).Count);
    }

    [Fact]
    public async Task Hostile_database_names_are_expired_like_any_other()
    {
        var repository = await CreateRepositoryAsync();
        var name = "My \"shop\"; DROP/..\\ ü " + new string('x', 40);
        var written = new List<BackupInfo>();
        for (var day = 1; day <= 3; day++)
        {
            written.Add(await SyntheticBackups.WriteAsync(repository, name, new DateTime(2026, 1, day, 1, 0, 0, DateTimeKind.Utc), BackupStatus.Succeeded, "000" + day.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        var result = await RunAsync(repository, new RetentionPolicy { KeepLast = 1 }, SixtyDayScenario.Now);

        Assert.Equal([written[0].Id, written[1].Id], result.Removed.Select(b => b.Id));
        var survivor = Assert.Single(await ListAsync(repository));
        Assert.Equal((name, written[2].Id), (survivor.Database, survivor.Id));
    }

    [Fact]
    public async Task An_invalid_policy_is_refused_before_the_repository_is_read()
    {
        var error = await Assert.ThrowsAsync<InvalidRetentionPolicyException>(() => RunAsync(MissingRepository(), new RetentionPolicy(), SixtyDayScenario.Now));

        Assert.Equal("InvalidRetentionPolicy", error.ErrorId);
    }

    [Fact]
    public async Task A_missing_repository_is_reported()
    {
        var error = await Assert.ThrowsAsync<RepositoryNotFoundException>(() => RunAsync(MissingRepository(), new RetentionPolicy { KeepLast = 1 }, SixtyDayScenario.Now));

        Assert.Equal("RepositoryNotFound", error.ErrorId);
    }

    private static Task<RetentionResult> RunAsync(IBackupRepository repository, RetentionPolicy policy, DateTime now, bool includeIncomplete = false)
        => new RetentionService(clock: new FixedClock(now)).RunAsync(
            new RetentionRequest { Repository = repository, Policy = policy, TimeZone = TimeZoneInfo.Utc, IncludeIncomplete = includeIncomplete },
            (_, _, _) => Task.FromResult(true),
            CancellationToken.None);

    private static Task<IReadOnlyList<BackupInfo>> ListAsync(IBackupRepository repository)
        => new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None);

    private static async Task<List<string>> ListObjectKeysAsync(IBackupRepository repository)
    {
        var keys = new List<string>();
        await foreach (var item in repository.ListAsync(string.Empty, CancellationToken.None))
        {
            keys.Add(item.Key);
        }

        keys.Sort(StringComparer.Ordinal);
        return keys;
    }

    private static async Task AssertNoArtifactWithoutManifestAsync(IBackupRepository repository, IReadOnlyList<BackupInfo> survivors)
    {
        var expected = survivors.SelectMany(b => new[] { b.ManifestKey, b.ArtifactKey }).OfType<string>().Order(StringComparer.Ordinal);
        Assert.Equal(expected, await ListObjectKeysAsync(repository));
    }

    private sealed class FixedClock(DateTime utcNow) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => new(DateTime.SpecifyKind(utcNow, DateTimeKind.Utc));
    }

    private sealed class RecordingLog : IOperationLog
    {
        public List<string> Warnings { get; } = [];

        public void Verbose(string message)
        {
        }

        public void Warning(string message) => Warnings.Add(message);
    }

    /// <summary>A real repository that remembers the order of deletions.</summary>
    private sealed class DeleteRecordingRepository(IBackupRepository inner) : DelegatingRepository(inner)
    {
        public List<string> Deleted { get; } = [];

        public override async Task DeleteAsync(string key, CancellationToken cancellationToken)
        {
            Deleted.Add(key);
            await base.DeleteAsync(key, cancellationToken);
        }
    }
}

/// <summary>The retention contract on a local folder repository.</summary>
public sealed class LocalRetentionServiceTests : RetentionServiceContract, IDisposable
{
    private readonly List<TempFolder> _folders = [];

    private protected override Task<IBackupRepository> CreateRepositoryAsync()
    {
        var folder = new TempFolder("pgbackup-retention");
        _folders.Add(folder);
        return Task.FromResult<IBackupRepository>(new LocalRepository(folder.Path));
    }

    private protected override IBackupRepository MissingRepository() => new LocalRepository(Path.Combine(Path.GetTempPath(), "pgbackup-missing-" + Guid.NewGuid().ToString("N")));

    public void Dispose()
    {
        foreach (var folder in _folders)
        {
            folder.Dispose();
        }
    }
}
