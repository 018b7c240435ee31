using System.Text;
using PgBackup.Catalog;
using PgBackup.Errors;

namespace PgBackup.Tests.Unit;

public class BackupNamingTests
{
    private static readonly DateTime Started = new(2026, 3, 9, 7, 5, 3, DateTimeKind.Utc);

    [Fact]
    public void Builds_the_documented_layout()
    {
        var id = BackupNaming.CreateId("shop", Started, "a1b2");
        var key = BackupNaming.ArtifactKey(id, Started, BackupNaming.Extension(BackupFormat.Custom, BackupCompression.None));

        Assert.Equal("shop_20260309T070503Z_a1b2", id);
        Assert.Equal("2026/03/09/shop_20260309T070503Z_a1b2.dump", key);
        Assert.Equal(key + ".manifest.json", BackupNaming.ManifestKeyFor(key));
        Assert.True(BackupNaming.IsManifestKey(BackupNaming.ManifestKeyFor(key)));
    }

    [Fact]
    public void Uses_utc_for_folders_and_timestamp_whatever_the_input_kind()
    {
        var local = new DateTimeOffset(2026, 1, 1, 1, 30, 0, TimeSpan.FromHours(3)).UtcDateTime; // 2025-12-31 22:30Z
        var id = BackupNaming.CreateId("db", local, "0000");

        Assert.Equal("db_20251231T223000Z_0000", id);
        Assert.StartsWith("2025/12/31/", BackupNaming.ArtifactKey(id, local, ".dump"), StringComparison.Ordinal);
    }

    [Fact]
    public void Random_suffix_is_four_lower_case_hex_digits()
    {
        var id = BackupNaming.CreateId("db", Started);
        Assert.Matches("^db_20260309T070503Z_[0-9a-f]{4}$", id);
    }

    [Theory]
    [InlineData("shop", "shop")]
    [InlineData("my_db-2.0", "my_db-2.0")]
    [InlineData("Ünïcødé_база", "Ünïcødé_база")]
    [InlineData("with space", "with%20space")]
    [InlineData("quote\"d'", "quote%22d%27")]
    [InlineData("a/b\\c:d", "a%2Fb%5Cc%3Ad")]
    [InlineData("..", "%2E.")]
    [InlineData("", "%00")]
    public void Encodes_database_names_into_portable_file_names(string database, string expected)
        => Assert.Equal(expected, BackupNaming.EncodeDatabaseName(database));

    [Fact]
    public void Encoded_63_byte_names_still_fit_a_file_name()
    {
        var name = new string('"', 63);
        var id = BackupNaming.CreateId(name, Started, "ffff");
        var fileName = id + BackupNaming.Extension(BackupFormat.Tar, BackupCompression.Zstd) + BackupNaming.ManifestSuffix;

        Assert.True(Encoding.UTF8.GetByteCount(fileName) < 255);
    }

    [Theory]
    [InlineData(BackupFormat.Custom, BackupCompression.None, ".dump")]
    [InlineData(BackupFormat.Custom, BackupCompression.Zstd, ".dump.zst")]
    [InlineData(BackupFormat.Plain, BackupCompression.Gzip, ".sql.gz")]
    [InlineData(BackupFormat.Tar, BackupCompression.Lz4, ".tar.lz4")]
    public void Extension_follows_format_and_stream_stage(BackupFormat format, BackupCompression stage, string expected)
        => Assert.Equal(expected, BackupNaming.Extension(format, stage));
}

public class ManifestSerializerTests
{
    private static BackupManifest Sample() => new()
    {
        Tool = "PgBackup",
        ToolVersion = "1.2.3",
        Id = "shop_20260309T070503Z_a1b2",
        Database = "shop \"quoted\" é",
        Server = "db1:5432",
        ServerVersion = "15.18",
        PgDumpVersion = "15.18",
        StartedAt = new DateTime(2026, 3, 9, 7, 5, 3, 123, DateTimeKind.Utc).AddTicks(4567),
        CompletedAt = new DateTime(2026, 3, 9, 7, 6, 3, DateTimeKind.Utc),
        DurationSeconds = 60,
        Format = BackupFormat.Custom,
        Compression = BackupCompression.Gzip,
        CompressionStage = CompressionStage.PgDump,
        Artifact = "shop_20260309T070503Z_a1b2.dump",
        SizeBytes = 12345,
        Sha256 = new string('a', 64),
        Status = BackupStatus.Succeeded,
        Tags = new Dictionary<string, string> { ["ticket"] = "CHG-1" },
        RowCounts = new Dictionary<string, long> { ["\"public\".\"orders\""] = 830 },
    };

    [Fact]
    public void Round_trips_every_field_exactly()
    {
        var original = Sample();
        var read = ManifestSerializer.Deserialize(ManifestSerializer.Serialize(original), "test");

        Assert.Equal(original with { Tags = read.Tags, RowCounts = read.RowCounts }, read);
        Assert.Equal(original.Tags, read.Tags);
        Assert.Equal(original.RowCounts, read.RowCounts);
        Assert.Equal(DateTimeKind.Utc, read.StartedAt.Kind);
    }

    [Fact]
    public void Writes_camel_case_with_enum_names_and_the_schema_version()
    {
        var json = Encoding.UTF8.GetString(ManifestSerializer.Serialize(Sample()));

        Assert.Contains("\"schemaVersion\": 1", json, StringComparison.Ordinal);
        Assert.Contains("\"status\": \"Succeeded\"", json, StringComparison.Ordinal);
        Assert.Contains("\"format\": \"Custom\"", json, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(CompressionStage.PgDump, "\"compressionStage\": \"pg_dump\"")]
    [InlineData(CompressionStage.Stream, "\"compressionStage\": \"stream\"")]
    public void Spells_the_compression_stage_as_manifests_always_have(CompressionStage stage, string expected)
    {
        var bytes = ManifestSerializer.Serialize(Sample() with { CompressionStage = stage });

        Assert.Contains(expected, Encoding.UTF8.GetString(bytes), StringComparison.Ordinal);
        Assert.Equal(stage, ManifestSerializer.Deserialize(bytes, "m.json").CompressionStage);
    }

    [Fact]
    public void Leaves_out_the_compression_stage_when_nothing_compressed_and_refuses_unknown_ones()
    {
        var none = ManifestSerializer.Serialize(Sample() with { CompressionStage = CompressionStage.None });
        Assert.DoesNotContain("compressionStage", Encoding.UTF8.GetString(none), StringComparison.Ordinal);
        Assert.Equal(CompressionStage.None, ManifestSerializer.Deserialize(none, "m.json").CompressionStage);

        var unknown = Encoding.UTF8.GetString(ManifestSerializer.Serialize(Sample())).Replace("\"pg_dump\"", "\"brotli\"", StringComparison.Ordinal);
        Assert.Throws<InvalidManifestException>(() => ManifestSerializer.Deserialize(Encoding.UTF8.GetBytes(unknown), "m.json"));
    }

    [Fact]
    public void Refuses_a_newer_schema_version()
    {
        var json = Encoding.UTF8.GetString(ManifestSerializer.Serialize(Sample())).Replace("\"schemaVersion\": 1", "\"schemaVersion\": 99", StringComparison.Ordinal);

        var error = Assert.Throws<InvalidManifestException>(() => ManifestSerializer.Deserialize(Encoding.UTF8.GetBytes(json), "m.json"));
        Assert.Contains("99", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("sub/file.dump")]
    [InlineData("..")]
    public void Refuses_artifacts_outside_the_manifest_folder(string artifact)
    {
        var bytes = ManifestSerializer.Serialize(Sample() with { Artifact = artifact });
        Assert.Throws<InvalidManifestException>(() => ManifestSerializer.Deserialize(bytes, "m.json"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("{not json")]
    [InlineData("null")]
    [InlineData("{\"id\": 1}")]
    public void Reports_garbage_as_InvalidManifest(string text)
    {
        var error = Assert.Throws<InvalidManifestException>(() => ManifestSerializer.Deserialize(Encoding.UTF8.GetBytes(text), "m.json"));
        Assert.Equal("InvalidManifest", error.ErrorId);
    }
}

public class BackupAddressTests
{
    [Fact]
    public void Splits_a_local_manifest_path_into_repository_and_key()
    {
        var (repository, key) = BackupAddress.Split("/var/backups/pg/2026/03/09/shop_20260309T070503Z_a1b2.dump.manifest.json");

        Assert.Equal("/var/backups/pg", repository);
        Assert.Equal("2026/03/09/shop_20260309T070503Z_a1b2.dump.manifest.json", key);
    }

    [Fact]
    public void Accepts_the_artifact_path_and_finds_its_manifest()
    {
        var (repository, key) = BackupAddress.Split("/r/2026/03/09/x.dump");

        Assert.Equal("/r", repository);
        Assert.Equal("2026/03/09/x.dump.manifest.json", key);
    }

    [Fact]
    public void Splits_s3_uris()
    {
        var (repository, key) = BackupAddress.Split("s3://bucket/team/pg/2026/03/09/x.dump.manifest.json");

        Assert.Equal("s3://bucket/team/pg", repository);
        Assert.Equal("2026/03/09/x.dump.manifest.json", key);
    }

    [Fact]
    public void Treats_a_manifest_outside_the_date_layout_as_its_own_repository()
    {
        var (repository, key) = BackupAddress.Split("/tmp/loose/x.dump.manifest.json");

        Assert.Equal("/tmp/loose", repository);
        Assert.Equal("x.dump.manifest.json", key);
    }
}

public class WildcardMatcherTests
{
    [Theory]
    [InlineData("shop", "shop", true)]
    [InlineData("SHOP", "shop", false)] // PostgreSQL names are case-sensitive
    [InlineData("sh*", "shop", true)]
    [InlineData("sh*", "ashop", false)]
    [InlineData("s?op", "shop", true)]
    [InlineData("[sb]hop", "bhop", true)]
    [InlineData("[sb]hop", "chop", false)]
    [InlineData("a.b", "axb", false)]
    [InlineData("with space*", "with space db", true)]
    [InlineData("`*literal", "*literal", true)]
    [InlineData("`*literal", "xliteral", false)]
    public void Matches_like_PowerShell(string pattern, string value, bool expected)
        => Assert.Equal(expected, WildcardMatcher.Create(pattern)(value));
}
