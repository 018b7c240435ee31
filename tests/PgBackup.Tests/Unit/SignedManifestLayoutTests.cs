using System.Management.Automation;
using PgBackup.Catalog;
using PgBackup.Errors;
using PgBackup.Retention;
using PgBackup.Storage;
using static PgBackup.Tests.Unit.RetentionTestData;

namespace PgBackup.Tests.Unit;

/// <summary>Where a manifest's signature lives in the layout, and that nothing mistakes it for an artifact or a manifest.</summary>
public class SignedManifestLayoutTests
{
    private const string Artifact = "2026/03/09/shop_20260309T070503Z_a1b2.dump.zst";
    private const string Manifest = Artifact + ".manifest.json";
    private const string Signature = Manifest + ".sig";
    private static readonly DateTime Now = Utc("2026-03-10T12:00:00Z");
    private static readonly DateTime TwoDaysAgo = Now.AddDays(-2);

    [Fact]
    public void A_signature_is_the_manifest_name_plus_sig_and_belongs_to_that_manifest()
    {
        Assert.Equal(Signature, BackupNaming.SignatureKeyFor(Manifest));
        Assert.True(BackupNaming.IsSignatureKey(Signature));
        Assert.False(BackupNaming.IsManifestKey(Signature));
        Assert.False(BackupNaming.IsSignatureKey(Manifest));
        Assert.False(BackupNaming.IsSignatureKey(Artifact));
        Assert.False(BackupNaming.IsSignatureKey("2026/03/09/shop_20260309T070503Z_a1b2.dump.sig"));

        Assert.Equal(Manifest, BackupNaming.ManifestKeyOf(Signature));
        Assert.Equal(Manifest, BackupNaming.ManifestKeyOf(Manifest));
        Assert.Equal(Manifest, BackupNaming.ManifestKeyOf(Artifact));
    }

    [Fact]
    public void A_signature_path_or_uri_finds_its_manifest()
    {
        Assert.Equal(("/var/backups/pg", Manifest), BackupAddress.Split("/var/backups/pg/" + Signature));
        Assert.Equal(("s3://bucket/pg", Manifest), BackupAddress.Split("s3://bucket/pg/" + Signature));
    }

    [Fact]
    public void A_signature_next_to_its_manifest_is_never_an_incomplete_leftover_however_old()
    {
        var backup = Make("2026-03-01T01:00:00Z", hex: "0001");
        var signature = BackupNaming.SignatureKeyFor(backup.ManifestKey);
        RepositoryObject[] listing =
        [
            new(backup.ArtifactKey!, 100, TwoDaysAgo),
            new(backup.ManifestKey, 10, TwoDaysAgo),
            new(signature, 1, TwoDaysAgo),
        ];

        Assert.Empty(IncompleteArtifacts.Find(listing, [backup], Now));
        // Not even when the catalog could not read the manifest: the manifest file still vouches for its signature.
        Assert.Empty(IncompleteArtifacts.Find(listing, [], Now));
    }

    [Fact]
    public void A_signature_whose_manifest_is_gone_is_a_leftover_once_a_day_old()
    {
        RepositoryObject[] listing =
        [
            new("2026/03/02/shop_20260302T010000Z_0002.dump.manifest.json.sig", 1, TwoDaysAgo),
            new("2026/03/10/shop_20260310T010000Z_0003.dump.manifest.json.sig", 1, Now.AddHours(-23)),
        ];

        var found = IncompleteArtifacts.Find(listing, [], Now);

        Assert.Equal(["2026/03/02/shop_20260302T010000Z_0002.dump.manifest.json.sig"], found.Select(item => item.Key));
    }

    [Fact]
    public void SignatureWriteFailed_is_a_WriteError_about_the_committed_backup_with_a_recommended_action()
    {
        var backup = Make("2026-03-01T01:00:00Z");

        var record = ErrorRecords.From(new SignatureWriteFailedException("m", backup));

        Assert.Equal("SignatureWriteFailed", record.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.WriteError, record.CategoryInfo.Category);
        Assert.Same(backup, record.TargetObject);
        Assert.Contains("-TrustedSigningKey", record.ErrorDetails?.RecommendedAction, StringComparison.Ordinal);
    }
}
