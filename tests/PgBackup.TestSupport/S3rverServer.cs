using System.Globalization;

namespace PgBackup.TestSupport;

/// <summary>
/// A throwaway s3rver (see <see cref="NodeServer"/>) with one bucket configured at start. Keys S3RVER/S3RVER.
/// s3rver checks the access key id (an unknown one gets 403 InvalidAccessKeyId) but not v4
/// signatures, and implements neither AbortMultipartUpload nor ListMultipartUploads (see S3FaultProxy).
/// </summary>
public sealed class S3rverServer : NodeServer
{
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";
    public const string DefaultBucket = "pgbackup-test";

    private S3rverServer(string bucket)
        : base("s3rver")
    {
        Bucket = bucket;
    }

    public string Bucket { get; }

    /// <summary>The file in which s3rver keeps an object of <see cref="Bucket"/>: what is really stored, whatever any client says.</summary>
    public string StoredObjectPath(string objectKey)
        => Path.Combine(DataDirectory, Bucket, objectKey.Replace('/', Path.DirectorySeparatorChar) + "._S3rver_object");

    /// <summary>Lower-case hex SHA-256 of what s3rver stores for an object.</summary>
    public string StoredObjectSha256(string objectKey)
    {
        var path = StoredObjectPath(objectKey);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"s3rver holds no file for {objectKey}.", path);
        }

        using var file = File.OpenRead(path);
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(file)).ToLowerInvariant();
    }

    /// <summary>Makes s3rver answer a write only once its bytes are in the file (see the script for why).</summary>
    private static string DurableWritesShim => Path.Combine(TestEnvironment.RepositoryRoot, "tests", "PgBackup.TestSupport", "s3rver-durable-writes.js");

    public static S3rverServer Start(string bucket = DefaultBucket) => StartAsync(bucket).GetAwaiter().GetResult();

    public static async Task<S3rverServer> StartAsync(string bucket = DefaultBucket)
    {
        var server = new S3rverServer(bucket);
        // s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node 17+) keeps
        // in its legacy provider: without it every truncated listing (pagination) fails with 500.
        await server.StartAsync(
            Path.Combine("s3rver", "bin", "s3rver.js"),
            ["--openssl-legacy-provider", "--require", DurableWritesShim],
            ["-d", server.DataDirectory, "-a", "127.0.0.1", "-p", server.Port.ToString(CultureInfo.InvariantCulture), "--silent", "--configure-bucket", bucket],
            new Dictionary<string, string> { ["PGBACKUP_TEST_NODE_MODULES"] = Path.Combine(TestEnvironment.RepositoryRoot, "node_modules") }).ConfigureAwait(false);
        return server;
    }
}
