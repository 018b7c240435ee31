using System.Text.Json;
using System.Text.Json.Serialization;
using PgBackup.Errors;

namespace PgBackup.Catalog;

/// <summary>Reads and writes manifests as indented, camelCase JSON with enums as names.</summary>
internal static class ManifestSerializer
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        // Before the general enum converter, which would otherwise take CompressionStage too.
        Converters = { new CompressionStageConverter(), new JsonStringEnumConverter() },
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static byte[] Serialize(BackupManifest manifest) => JsonSerializer.SerializeToUtf8Bytes(manifest, Options);

    public static BackupManifest Deserialize(ReadOnlySpan<byte> json, string source)
    {
        BackupManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<BackupManifest>(json, Options);
        }
        catch (JsonException ex)
        {
            throw new InvalidManifestException($"{source} is not a valid PgBackup manifest: {ex.Message}", source, ex);
        }

        if (manifest is null)
        {
            throw new InvalidManifestException($"{source} is empty.", source);
        }

        if (manifest.SchemaVersion > BackupManifest.CurrentSchemaVersion)
        {
            throw new InvalidManifestException(
                $"{source} has manifest schema version {manifest.SchemaVersion}; this PgBackup reads up to {BackupManifest.CurrentSchemaVersion}. Update the module.",
                source);
        }

        if (manifest.Artifact is { } artifact && (artifact.Contains('/') || artifact.Contains('\\') || artifact is "." or ".."))
        {
            throw new InvalidManifestException($"{source} names an artifact outside its folder (\"{artifact}\").", source);
        }

        // A Succeeded backup is its artifact: without a name there is nothing to restore (and "" would be the folder).
        if (manifest.Artifact is { } named && string.IsNullOrWhiteSpace(named))
        {
            throw new InvalidManifestException($"{source} names an empty artifact.", source);
        }

        // A globals backup is a plain SQL script applied statement by statement; no other form of one is ever written.
        if (manifest.Kind == BackupKind.Globals && (manifest.Format != BackupFormat.Plain || manifest.SchemaVersion < BackupManifest.GlobalsSchemaVersion))
        {
            throw new InvalidManifestException($"{source} says it is a globals backup but is not one as PgBackup writes them (plain format, schema version {BackupManifest.GlobalsSchemaVersion}).", source);
        }

        if (manifest.Status == BackupStatus.Succeeded && manifest.Artifact is null)
        {
            throw new InvalidManifestException($"{source} says Succeeded but names no artifact.", source);
        }

        return manifest;
    }

    /// <summary>The manifest's spelling of <see cref="PgBackup.CompressionStage"/>: "pg_dump" and "stream" (the format since schema 1).</summary>
    private sealed class CompressionStageConverter : JsonConverter<CompressionStage>
    {
        public const string PgDump = "pg_dump";
        public const string Stream = "stream";

        public override CompressionStage Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
            => reader.GetString() switch
            {
                PgDump => CompressionStage.PgDump,
                Stream => CompressionStage.Stream,
                null => CompressionStage.None,
                var other => throw new JsonException($"Unknown compressionStage \"{other}\" (expected \"{PgDump}\" or \"{Stream}\")."),
            };

        public override void Write(Utf8JsonWriter writer, CompressionStage value, JsonSerializerOptions options)
            => writer.WriteStringValue(value switch
            {
                CompressionStage.PgDump => PgDump,
                CompressionStage.Stream => Stream,
                _ => throw new JsonException($"{value} is not stored in manifests."),
            });
    }
}
