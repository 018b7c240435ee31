using System.Text.Json;
using System.Text.Json.Serialization;
using PgBackup.Errors;

namespace PgBackup.Catalog;

/// <summary>Reads and writes manifests as indented, camelCase JSON with enums as names.</summary>
public static class ManifestSerializer
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter() },
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

        return manifest;
    }
}
