using PgBackup.Catalog;
using PgBackup.Errors;
using PgBackup.Retention;
using static PgBackup.Tests.Unit.RetentionTestData;

namespace PgBackup.Tests.Unit;

/// <summary>The pure parts of "a repository is untrusted input" (issue 9): policy ranges, future dates, manifest fields.</summary>
public class RepositoryTrustUnitTests
{
    private static readonly DateTime Now = Utc("2026-03-01T18:00:00Z");

    public static TheoryData<string, string> OutOfRangePolicies => new()
    {
        { "RetentionDays 100000000", "RetentionDays" },
        { "RetentionDays 2147483647", "RetentionDays" },
        { "KeepLast 3 RetentionDays 3000000", "RetentionDays" },
    };

    [Theory]
    [MemberData(nameof(OutOfRangePolicies))]
    public void A_retention_period_beyond_the_calendar_is_an_InvalidRetentionPolicy_not_an_overflow(string policy, string rule)
    {
        var parsed = new Integration.RetentionPolicyText(policy).ToPolicy();

        var error = Assert.Throws<InvalidRetentionPolicyException>(() => RetentionEvaluator.Evaluate([Make("2026-03-01T01:00:00Z")], parsed, Now, TimeZoneInfo.Utc));

        Assert.Equal("InvalidRetentionPolicy", error.ErrorId);
        Assert.Contains(rule, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_longest_valid_retention_period_evaluates()
    {
        var evaluation = RetentionEvaluator.Evaluate([Make("2026-03-01T01:00:00Z")], new RetentionPolicy { RetentionDays = RetentionPolicy.MaximumRetentionDays }, Now, TimeZoneInfo.Utc);

        Assert.Single(evaluation.Kept);
    }

    [Fact]
    public void A_future_dated_backup_is_kept_but_is_neither_the_newest_good_floor_nor_counted()
    {
        var future = Make("2026-03-02T18:00:00Z", hex: "ffff");
        var newest = Make("2026-03-01T01:00:00Z", hex: "0003");
        var older = Make("2026-02-28T01:00:00Z", hex: "0002");

        var evaluation = RetentionEvaluator.Evaluate([future, newest, older], new RetentionPolicy { KeepLast = 1 }, Now, TimeZoneInfo.Utc);

        Assert.Equal([future, newest], evaluation.Kept.Select(d => d.Backup));
        Assert.True(evaluation.Decisions.Single(d => d.Backup == future).KeptBy(RetentionRule.FutureDated));
        Assert.False(evaluation.Decisions.Single(d => d.Backup == future).KeptBy(RetentionRule.KeepLast));
        Assert.True(evaluation.Decisions.Single(d => d.Backup == newest).KeptBy(RetentionRule.NewestSucceeded));
        Assert.Equal([older], evaluation.Expired.Select(d => d.Backup));
    }

    [Fact]
    public void A_backup_within_the_clock_skew_is_the_newest_as_usual()
    {
        var skewed = Make("2026-03-01T18:01:00Z", hex: "ffff");
        var older = Make("2026-03-01T01:00:00Z", hex: "0003");

        var evaluation = RetentionEvaluator.Evaluate([skewed, older], new RetentionPolicy { KeepLast = 1 }, Now, TimeZoneInfo.Utc);

        Assert.Equal([skewed], evaluation.Kept.Select(d => d.Backup));
    }

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    public void A_succeeded_manifest_with_an_empty_artifact_name_is_invalid(string artifact)
    {
        var bytes = ManifestSerializer.Serialize(Sample() with { Artifact = artifact });

        var error = Assert.Throws<InvalidManifestException>(() => ManifestSerializer.Deserialize(bytes, "m.json"));

        Assert.Contains("artifact", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_succeeded_manifest_without_an_artifact_is_invalid_and_a_failed_one_is_fine()
    {
        Assert.Throws<InvalidManifestException>(() => ManifestSerializer.Deserialize(ManifestSerializer.Serialize(Sample() with { Artifact = null }), "m.json"));

        var failed = ManifestSerializer.Deserialize(ManifestSerializer.Serialize(Sample() with { Artifact = null, Status = BackupStatus.Failed }), "m.json");

        Assert.Null(failed.Artifact);
    }

    [Theory]
    [InlineData("shop", "SHOP")]
    [InlineData("sh*", "SHOP")]
    [InlineData("[s]hop", "Shop")]
    public void Database_patterns_are_case_sensitive_like_PostgreSQL_names(string pattern, string other)
    {
        Assert.False(WildcardMatcher.Create(pattern)(other));
        Assert.True(WildcardMatcher.Create(pattern)("shop"));
    }

    [Fact]
    public void Database_names_come_back_out_of_manifest_keys()
    {
        var started = Utc("2026-03-01T01:00:00Z");
        var name = "My \"shop\"; DROP/..\\ ü %41";
        var key = BackupNaming.ManifestKeyFor(BackupNaming.ArtifactKey(BackupNaming.CreateId(name, started, "a1b2"), started, ".dump.zst"));

        Assert.True(BackupNaming.TryParseKey(key, out var parsed));
        Assert.Equal((name, started), (parsed.Database, parsed.StartedAtUtc));
        Assert.False(BackupNaming.TryParseKey("2026/03/01/notes.manifest.json", out _));
    }

    private static BackupManifest Sample() => new()
    {
        Tool = "PgBackup",
        ToolVersion = "1.2.3",
        Id = "shop_20260309T070503Z_a1b2",
        Database = "shop",
        Server = "db1:5432",
        StartedAt = new DateTime(2026, 3, 9, 7, 5, 3, DateTimeKind.Utc),
        Artifact = "shop_20260309T070503Z_a1b2.dump",
        SizeBytes = 12345,
        Sha256 = new string('a', 64),
        Status = BackupStatus.Succeeded,
    };
}
