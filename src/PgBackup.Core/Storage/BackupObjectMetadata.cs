using System.Globalization;

namespace PgBackup.Storage;

/// <summary>
/// The user metadata PgBackup puts on objects in a cloud store (S3 x-amz-meta-*, Azure x-ms-meta-*),
/// so a bucket or container browser, or an inventory report, tells what an object is without
/// reading it. The same names and values in every store. Values are percent-encoded UTF-8 (header
/// values must be ASCII; database names need not be); names are valid C# identifiers, as Azure requires.
/// </summary>
internal static class BackupObjectMetadata
{
    public const string CreatedAt = "created_at";
    public const string Database = "database";
    public const string BackupType = "backup_type";
    public const string Sha256 = "sha256";
    public const string ToolVersion = "tool_version";

    /// <summary>The metadata of an object, as the caller gave it (the sha256 only when known when the object is written).</summary>
    public static Dictionary<string, string> For(ArtifactMetadata metadata)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [CreatedAt] = metadata.CreatedAtUtc.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            [Database] = Uri.EscapeDataString(metadata.Database),
            [BackupType] = Uri.EscapeDataString(metadata.BackupType),
            [ToolVersion] = Uri.EscapeDataString(metadata.ToolVersion),
        };
        if (metadata.Sha256 is { } sha256)
        {
            values[Sha256] = sha256;
        }

        return values;
    }

    /// <summary>Decodes a stored value (null stays null).</summary>
    public static string? Decode(string? value) => value is null ? null : Uri.UnescapeDataString(value);
}
