using Amazon.Runtime;

namespace PgBackup.Storage.S3;

/// <summary>Server-side encryption S3 applies to every object PgBackup writes.</summary>
internal enum S3ServerSideEncryption
{
    None,
    AES256,
    AwsKms,
}

/// <summary>
/// How to reach an S3 repository and how to store objects there. Every value is optional: the
/// endpoint and region fall back to the environment (see <see cref="S3ClientFactory"/>), the
/// credentials to the AWS SDK default chain.
/// </summary>
internal sealed record S3RepositoryOptions
{
    public const string DefaultStorageClass = "STANDARD_IA";

    /// <summary>The <see cref="RepositoryDescriptor"/> settings an S3 repository records about how it was reached.</summary>
    public const string EndpointSetting = "endpoint";

    /// <inheritdoc cref="EndpointSetting"/>
    public const string RegionSetting = "region";

    /// <summary>Custom endpoint (MinIO, Ceph, s3rver …); null = AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, then AWS itself.</summary>
    public string? Endpoint { get; init; }

    /// <summary>Null = the SDK chain (AWS_REGION, profile); us-east-1 for a custom endpoint when nothing is found.</summary>
    public string? Region { get; init; }

    /// <summary>Storage class of backup artifacts. Manifests are always STANDARD: listing reads every one of them.</summary>
    public string StorageClass { get; init; } = DefaultStorageClass;

    public S3ServerSideEncryption ServerSideEncryption { get; init; } = S3ServerSideEncryption.None;

    /// <summary>KMS key for <see cref="S3ServerSideEncryption.AwsKms"/>; null = the bucket's or account's default key.</summary>
    public string? KmsKeyId { get; init; }

    /// <summary>Multipart part size; null = chosen from the expected size (<see cref="S3PartSizing"/>).</summary>
    public long? PartSizeBytes { get; init; }

    /// <summary>Parts uploading at once. Memory used by one upload is at most (this + 1) × part size.</summary>
    public int MaxPartsInFlight { get; init; } = 4;

    /// <summary>Explicit credentials (tests, embedding); null = the SDK default chain (env, AWS_PROFILE, web identity, instance role).</summary>
    public AWSCredentials? Credentials { get; init; }

    /// <summary>The descriptor settings of a repository reached through this endpoint and region (either may be null).</summary>
    public static IReadOnlyDictionary<string, string> DescriptorSettings(string? endpoint, string? region)
    {
        var settings = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!string.IsNullOrWhiteSpace(endpoint))
        {
            settings[EndpointSetting] = endpoint;
        }

        if (!string.IsNullOrWhiteSpace(region))
        {
            settings[RegionSetting] = region.Trim();
        }

        return settings;
    }

    /// <summary>These options, with the endpoint and region a repository was reached through wherever these leave them open.</summary>
    public S3RepositoryOptions CompletedBy(RepositoryDescriptor descriptor) => this with
    {
        Endpoint = Endpoint ?? descriptor.Setting(EndpointSetting),
        Region = Region ?? descriptor.Setting(RegionSetting),
    };
}
