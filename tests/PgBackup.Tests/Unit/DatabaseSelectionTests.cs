using System.Text;
using PgBackup.Catalog;
using PgBackup.Errors;
using PgBackup.Server;

namespace PgBackup.Tests.Unit;

public class DatabaseSelectionTests
{
    private static readonly ServerDatabase[] Server =
    [
        new("billing", true, false),
        new("closed", false, false),
        new("postgres", true, false),
        new("shop", true, false),
        new("SHOP_archive", true, false),
        new("shop_eu", true, false),
        new("template0", false, true),
        new("template1", true, true),
        new("tmp_load", true, false),
    ];

    private static IReadOnlyList<string> Select(string[]? databases = null, bool all = false, string[]? exclude = null, IReadOnlyList<ServerDatabase>? server = null)
        => DatabaseSelection.Select(new DatabaseSelectionRequest { Databases = databases ?? [], AllDatabases = all, Exclude = exclude ?? [] }, server ?? Server, "db1:5432");

    [Fact]
    public void AllDatabases_takes_every_connectable_non_template_database_postgres_included()
        => Assert.Equal(["billing", "postgres", "shop", "SHOP_archive", "shop_eu", "tmp_load"], Select(all: true));

    [Fact]
    public void ExcludeDatabase_wildcards_leave_databases_out_case_sensitively()
        => Assert.Equal(["billing", "shop", "SHOP_archive", "shop_eu"], Select(all: true, exclude: ["tmp*", "post?res"]));

    [Fact]
    public void Wildcards_expand_case_sensitively_in_server_order_and_each_database_is_taken_once()
        => Assert.Equal(["shop_eu", "shop", "billing"], Select(["shop_eu", "shop*", "billing", "shop"]));

    [Fact]
    public void A_plain_name_may_name_a_template_or_a_closed_database_the_attempt_then_fails_and_is_recorded()
        => Assert.Equal(["template1", "closed"], Select(["template1", "closed"]));

    [Fact]
    public void An_unknown_name_is_DatabaseNotFound_before_anything_runs()
    {
        var error = Assert.Throws<DatabaseNotFoundException>(() => Select(["shop", "nortwind"]));
        Assert.Equal("nortwind", error.TargetObject);
        Assert.Contains("Nothing was backed up", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_wildcard_without_a_match_is_NoDatabaseMatched_and_templates_or_closed_databases_never_match()
    {
        Assert.Equal("NoDatabaseMatched", Assert.Throws<NoDatabaseMatchedException>(() => Select(["north*"])).ErrorId);
        Assert.Throws<NoDatabaseMatchedException>(() => Select(["templ*"]));
        Assert.Throws<NoDatabaseMatchedException>(() => Select(["clos?d"]));
    }

    [Fact]
    public void An_exclusion_that_leaves_nothing_is_NoDatabaseMatched()
        => Assert.Throws<NoDatabaseMatchedException>(() => Select(all: true, exclude: ["*"]));

    [Fact]
    public void Without_the_server_list_plain_names_are_taken_as_given_and_wildcards_cannot_be_expanded()
    {
        Assert.Equal(["shop", "nortwind"], DatabaseSelection.Select(new DatabaseSelectionRequest { Databases = ["shop", "nortwind"] }, null, "db1:5432"));
        Assert.Throws<ConnectionFailedException>(() => DatabaseSelection.Select(new DatabaseSelectionRequest { AllDatabases = true }, null, "db1:5432"));
    }

    [Theory]
    [InlineData("standard_ia", "STANDARD_IA")]
    [InlineData(" GLACIER_IR", "GLACIER_IR")]
    [InlineData("EXPRESS_ONEZONE", "EXPRESS_ONEZONE")]
    public void Storage_classes_are_known_in_any_casing(string given, string expected)
        => Assert.Equal(expected, Storage.S3.S3StorageClasses.Normalize(given));

    [Fact]
    public void An_unknown_storage_class_is_InvalidStorageClass()
        => Assert.Equal("InvalidStorageClass", Assert.Throws<InvalidStorageClassException>(() => Storage.S3.S3StorageClasses.Normalize("STANDARD_AI")).ErrorId);

    [Theory]
    [InlineData("s3:/acme/pg")]
    [InlineData("S3:acme")]
    [InlineData("az:/container")]
    [InlineData("https:/account.blob.core.windows.net/c")]
    public void A_repository_scheme_without_its_slashes_is_InvalidRepository(string location)
        => Assert.Throws<InvalidRepositoryException>(() => Storage.RepositoryFactory.RejectMalformedUri(location));

    [Theory]
    [InlineData("s3://acme/pg")]
    [InlineData("TestDrive:/repo")]
    [InlineData("C:\\backups")]
    [InlineData("/var/backups/pg")]
    [InlineData("FileSystem::/tmp/x")]
    public void Paths_drives_and_well_formed_URIs_pass(string location)
        => Storage.RepositoryFactory.RejectMalformedUri(location);
}

public class GlobalsNamingTests
{
    private static readonly DateTime Started = new(2026, 12, 2, 13, 0, 0, DateTimeKind.Utc);

    [Fact]
    public void A_globals_key_parses_as_the_globals_and_never_as_a_database_of_a_similar_name()
    {
        var globalsId = BackupNaming.CreateId("postgres", Started, "abcd", BackupKind.Globals);
        Assert.Equal("~globals_20261202T130000Z_abcd", globalsId);
        Assert.True(BackupNaming.TryParseKey("2026/12/02/" + globalsId + ".sql.gz.manifest.json", out var globals));
        Assert.Equal((BackupNaming.GlobalsDatabaseName, BackupKind.Globals), (globals.Database, globals.Kind));

        foreach (var lookalike in new[] { "(globals)", "~globals", "globals" })
        {
            var id = BackupNaming.CreateId(lookalike, Started, "abcd");
            Assert.NotEqual(globalsId, id);
            Assert.True(BackupNaming.TryParseKey("2026/12/02/" + id + ".dump.manifest.json", out var database));
            Assert.Equal((lookalike, BackupKind.Database), (database.Database, database.Kind));
        }
    }

    [Fact]
    public void A_manifest_without_kind_reads_as_a_database_backup_and_a_globals_manifest_is_schema_2()
    {
        var old = """{"schemaVersion":1,"tool":"PgBackup","toolVersion":"0.1","id":"shop_20261202T130000Z_abcd","database":"shop","server":"h:5432","startedAt":"2026-12-02T13:00:00Z","format":"Custom","status":"Failed"}""";
        Assert.Equal(BackupKind.Database, ManifestSerializer.Deserialize(Encoding.UTF8.GetBytes(old), "old").Kind);

        var globals = ManifestSerializer.Deserialize(Encoding.UTF8.GetBytes(old.Replace("\"schemaVersion\":1", "\"schemaVersion\":2").Replace("\"format\":\"Custom\"", "\"format\":\"Plain\",\"kind\":\"Globals\"")), "new");
        Assert.Equal(BackupKind.Globals, globals.Kind);
        Assert.Equal(2, BackupManifest.SchemaVersionFor(BackupKind.Globals, encrypted: false));
        Assert.Equal(1, BackupManifest.SchemaVersionFor(BackupKind.Database, encrypted: false));

        // A globals manifest in another form is not one PgBackup wrote: refused rather than applied as something else.
        Assert.Throws<InvalidManifestException>(() => ManifestSerializer.Deserialize(Encoding.UTF8.GetBytes(old.Replace("\"format\":\"Custom\"", "\"format\":\"Custom\",\"kind\":\"Globals\"")), "forged"));
    }

    [Fact]
    public void An_encrypted_backups_manifest_is_schema_3_so_readers_that_ignore_encryption_refuse_it()
    {
        Assert.Equal(3, BackupManifest.SchemaVersionFor(BackupKind.Database, encrypted: true));
        Assert.Equal(3, BackupManifest.SchemaVersionFor(BackupKind.Globals, encrypted: true));

        var encrypted = """{"schemaVersion":3,"tool":"PgBackup","toolVersion":"0.1","id":"shop_20261202T130000Z_abcd","database":"shop","server":"h:5432","startedAt":"2026-12-02T13:00:00Z","format":"Custom","status":"Failed","encryption":{"algorithm":"OpenPGP AES-256","keyFingerprints":[],"passphraseProtected":true}}""";
        var manifest = ManifestSerializer.Deserialize(Encoding.UTF8.GetBytes(encrypted), "encrypted");
        Assert.Equal(3, manifest.SchemaVersion);
        Assert.True(manifest.Encryption?.PassphraseProtected);

        // What a reader of schema 2 (globals, no encryption) says to it, as this one says to a newer schema.
        var newer = Assert.Throws<InvalidManifestException>(() => ManifestSerializer.Deserialize(Encoding.UTF8.GetBytes(encrypted.Replace("\"schemaVersion\":3", "\"schemaVersion\":4", StringComparison.Ordinal)), "newer"));
        Assert.Contains("Update the module", newer.Message, StringComparison.Ordinal);
    }
}
