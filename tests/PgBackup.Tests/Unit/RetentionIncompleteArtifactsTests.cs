using PgBackup.Retention;
using PgBackup.Storage;
using static PgBackup.Tests.Unit.RetentionTestData;

namespace PgBackup.Tests.Unit;

public class RetentionIncompleteArtifactsTests
{
    private static readonly DateTime Now = Utc("2026-03-10T12:00:00Z");
    private static readonly DateTime TwoDaysAgo = Now.AddDays(-2);

    [Fact]
    public void Only_day_old_leftovers_named_in_our_layout_without_a_manifest_are_found()
    {
        var committed = Make("2026-03-01T01:00:00Z", hex: "0001");
        RepositoryObject[] listing =
        [
            new(committed.ArtifactKey!, 100, TwoDaysAgo),
            new(committed.ManifestKey, 10, TwoDaysAgo),
            new("2026/03/02/shop_20260302T010000Z_0002.dump.partial", 50, TwoDaysAgo),               // crashed write
            new("2026/03/03/shop_20260303T010000Z_0003.dump", 60, TwoDaysAgo),                       // manifest never landed
            new("2026/03/03/shop_20260303T010000Z_0004.dump.manifest.json.tmp-1a2b3c4d", 5, TwoDaysAgo), // half-written manifest
            new("2026/03/10/shop_20260310T010000Z_0005.dump.partial", 70, Now.AddHours(-23)),         // maybe still being written
            new("2026/03/10/shop_20260310T010000Z_0006.dump", 70, Now.AddHours(-23)),
            new("notes.txt", 1, TwoDaysAgo),                                                          // not ours
            new("2026/03/02/holiday-photo.jpg", 1, TwoDaysAgo),                                       // not ours
            new("other/2026/03/02/shop_20260302T010000Z_0007.dump", 1, TwoDaysAgo),                   // not at the repository root
        ];

        var found = IncompleteArtifacts.Find(listing, [committed], Now);

        Assert.Equal(
        [
            "2026/03/02/shop_20260302T010000Z_0002.dump.partial",
            "2026/03/03/shop_20260303T010000Z_0003.dump",
            "2026/03/03/shop_20260303T010000Z_0004.dump.manifest.json.tmp-1a2b3c4d",
        ],
            found.Select(item => item.Key));
    }

    [Fact]
    public void An_artifact_next_to_an_unreadable_or_failed_manifest_is_left_alone()
    {
        // The catalog skips a manifest it cannot read, so no BackupInfo vouches for the artifact: its manifest file still does.
        RepositoryObject[] listing =
        [
            new("2026/03/02/shop_20260302T010000Z_0002.dump", 50, TwoDaysAgo),
            new("2026/03/02/shop_20260302T010000Z_0002.dump.manifest.json", 5, TwoDaysAgo),
        ];

        Assert.Empty(IncompleteArtifacts.Find(listing, [], Now));
    }

    [Fact]
    public void The_age_limit_is_24_hours_by_last_modified_time()
    {
        RepositoryObject[] listing =
        [
            new("2026/03/09/shop_20260309T110000Z_000a.dump.partial", 1, Now.AddHours(-24)),
            new("2026/03/09/shop_20260309T110000Z_000b.dump.partial", 1, Now.AddHours(-24).AddSeconds(-1)),
        ];

        Assert.Equal(["2026/03/09/shop_20260309T110000Z_000b.dump.partial"], IncompleteArtifacts.Find(listing, [], Now).Select(item => item.Key));
    }

    [Fact]
    public void Encoded_and_unicode_database_names_are_recognised()
    {
        RepositoryObject[] listing =
        [
            new("2026/03/02/my%20db%22x_20260302T010000Z_00ab.dump.partial", 1, TwoDaysAgo),
            new("2026/03/02/bücher_20260302T010000Z_00cd.sql.gz", 1, TwoDaysAgo),
        ];

        Assert.Equal(2, IncompleteArtifacts.Find(listing, [], Now).Count);
        Assert.Equal(["2026/03/02/my%20db%22x_20260302T010000Z_00ab.dump.partial"], IncompleteArtifacts.Find(listing, [], Now, ["my db\"*"]).Select(item => item.Key));
        Assert.Equal(["2026/03/02/bücher_20260302T010000Z_00cd.sql.gz"], IncompleteArtifacts.Find(listing, [], Now, ["bücher"]).Select(item => item.Key));
        // PostgreSQL names are case-sensitive: "BÜCHER" is another database (issue 9).
        Assert.Empty(IncompleteArtifacts.Find(listing, [], Now, ["BÜCHER"]));
    }

    [Fact]
    public void Database_patterns_limit_which_leftovers_are_found()
    {
        RepositoryObject[] listing =
        [
            new("2026/03/02/shop_20260302T010000Z_0001.dump.partial", 1, TwoDaysAgo),
            new("2026/03/02/crm_20260302T010000Z_0002.dump.partial", 1, TwoDaysAgo),
            new("2026/03/02/shop_eu_20260302T010000Z_0003.dump", 1, TwoDaysAgo),
        ];

        Assert.Equal(["2026/03/02/shop_20260302T010000Z_0001.dump.partial"], IncompleteArtifacts.Find(listing, [], Now, ["shop"]).Select(item => item.Key));
        Assert.Equal(2, IncompleteArtifacts.Find(listing, [], Now, ["shop*"]).Count);
        Assert.Equal(3, IncompleteArtifacts.Find(listing, [], Now, []).Count);
    }
}
