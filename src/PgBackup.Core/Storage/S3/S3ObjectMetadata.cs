using Amazon.S3.Model;

namespace PgBackup.Storage.S3;

/// <summary>
/// <see cref="BackupObjectMetadata"/> on S3 objects (x-amz-meta-*).
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
    public const string CreatedAt = BackupObjectMetadata.CreatedAt;
    public const string Database = BackupObjectMetadata.Database;
    public const string BackupType = BackupObjectMetadata.BackupType;
    public const string Sha256 = BackupObjectMetadata.Sha256;
    public const string ToolVersion = BackupObjectMetadata.ToolVersion;

    public static void Apply(MetadataCollection target, ArtifactMetadata metadata) => Copy(BackupObjectMetadata.For(metadata), target);

    /// <summary>Reads a value back (the SDK returns keys with or without the x-amz-meta- prefix).</summary>
    public static string? Get(MetadataCollection metadata, string name) => BackupObjectMetadata.Decode(metadata[name] ?? metadata["x-amz-meta-" + name]);

    private static void Copy(Dictionary<string, string> values, MetadataCollection target)
    {
        foreach (var (name, value) in values)
        {
            target[name] = value;
        }
    }
}
