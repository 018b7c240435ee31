using System.Globalization;
using Amazon.S3.Model;

namespace PgBackup.Storage.S3;

/// <summary>
/// The user metadata PgBackup puts on S3 objects (x-amz-meta-*), so a bucket browser or an S3
/// inventory tells what an object is without reading it. Values are percent-encoded UTF-8
/// (header values must be ASCII; database names need not be).
/// <para>
/// The SHA-256 is known only once the last byte has streamed, after a multipart upload began and
/// its metadata was fixed. So: a backup that fits in one part is sent with a single PutObject
/// carrying <c>sha256</c>; a multipart artifact carries the other keys, and its <c>sha256</c> is
/// on the manifest object, written last (a CopyObject to rewrite the artifact's metadata would copy
/// every byte again and, for infrequent-access classes, pay a retrieval for it).
/// </para>
/// </summary>
internal static class S3ObjectMetadata
{
    public const string CreatedAt = "created_at";
    public const string Database = "database";
    public const string BackupType = "backup_type";
    public const string Sha256 = "sha256";
    public const string ToolVersion = "tool_version";

    public static void Apply(MetadataCollection target, ArtifactMetadata metadata)
    {
        target[CreatedAt] = metadata.CreatedAtUtc.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        target[Database] = Uri.EscapeDataString(metadata.Database);
        target[BackupType] = Uri.EscapeDataString(metadata.BackupType);
        target[ToolVersion] = Uri.EscapeDataString(metadata.ToolVersion);
        if (metadata.Sha256 is { } sha256)
        {
            target[Sha256] = sha256;
        }
    }

    /// <summary>Reads a value back (the SDK returns keys with or without the x-amz-meta- prefix).</summary>
    public static string? Get(MetadataCollection metadata, string name)
    {
        var value = metadata[name] ?? metadata["x-amz-meta-" + name];
        return value is null ? null : Uri.UnescapeDataString(value);
    }
}
