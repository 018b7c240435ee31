using System.Globalization;
using PgBackup.Catalog;

namespace PgBackup.Storage;

/// <summary>
/// The user metadata PgBackup puts on objects in a cloud store (S3 x-amz-meta-*, Azure x-ms-meta-*),
/// so a bucket or container browser, or an inventory report, tells what an object is without
/// reading it. The same names and values in every store. Values are percent-encoded UTF-8 (header
/// values must be ASCII; database names need not be); names are valid C# identifiers, as Azure requires.
/// </summary>
public static class BackupObjectMetadata
{
    public const string CreatedAt = "created_at";
    public const string Database = "database";
    public const string BackupType = "backup_type";
    public const string Sha256 = "sha256";
    public const string ToolVersion = "tool_version";

    /// <summary>The metadata of an artifact; <paramref name="sha256"/> only when known before the upload commits.</summary>
    public static Dictionary<string, string> For(ArtifactMetadata metadata, string? sha256)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [CreatedAt] = metadata.CreatedAtUtc.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            [Database] = Uri.EscapeDataString(metadata.Database),
            [BackupType] = Uri.EscapeDataString(metadata.BackupType),
            [ToolVersion] = Uri.EscapeDataString(metadata.ToolVersion),
        };
        if (sha256 is not null)
        {
            values[Sha256] = sha256;
        }

        return values;
    }

    /// <summary>The same facts for a manifest object, taken from the manifest itself.</summary>
    public static Dictionary<string, string> ForManifest(BackupManifest manifest)
        => For(new ArtifactMetadata(manifest.Database, manifest.StartedAt, manifest.BackupType ?? string.Empty, manifest.ToolVersion), manifest.Sha256);

    /// <summary>Decodes a stored value (null stays null).</summary>
    public static string? Decode(string? value) => value is null ? null : Uri.UnescapeDataString(value);
}
