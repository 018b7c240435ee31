using Azure.Core;
using PgBackup.Errors;

namespace PgBackup.Storage.Azure;

/// <summary>
/// How to store objects in an Azure Blob repository. Every value is optional: the account and the
/// credentials come from the environment (see <see cref="AzureConnectionResolver"/>).
/// </summary>
internal sealed record AzureRepositoryOptions
{
    /// <summary>Like S3's STANDARD_IA: cheaper storage for objects that are written once and rarely read.</summary>
    public const string DefaultAccessTier = "Cool";

    /// <summary>
    /// The <see cref="RepositoryDescriptor"/> setting an az:// repository records: the account's blob endpoint it was
    /// reached through (<c>https://account.blob.core.windows.net</c>, <c>http://127.0.0.1:10000/account</c>). URL
    /// locations name their endpoint and record nothing.
    /// </summary>
    public const string EndpointSetting = "endpoint";

    /// <summary>The access tiers a backup artifact may be stored in.</summary>
    public static readonly IReadOnlyList<string> AccessTiers = ["Hot", "Cool", "Cold", "Archive"];

    /// <summary>Access tier of backup artifacts. Manifests are always Hot: listing reads every one of them.</summary>
    public string AccessTier { get; init; } = DefaultAccessTier;

    /// <summary>Block size; null = chosen from the expected size (<see cref="AzureBlockSizing"/>).</summary>
    public long? BlockSizeBytes { get; init; }

    /// <summary>Blocks uploading at once. Memory used by one upload is at most (this + 1) × block size.</summary>
    public int MaxBlocksInFlight { get; init; } = 4;

    /// <summary>
    /// The account's blob endpoint for an az:// location (e.g. the one a piped BackupInfo's descriptor recorded,
    /// see <see cref="CompletedBy"/>); null = from AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT. Ignored for URL locations.
    /// </summary>
    public string? ServiceEndpoint { get; init; }

    /// <summary>Blobs per listing page; null = the service's maximum (5,000).</summary>
    public int? ListPageSize { get; init; }

    /// <summary>
    /// The Microsoft Entra ID credential used when the environment holds no key or SAS (a host embedding
    /// PgBackup with its own identity, tests); null = Azure Pipelines workload identity, then DefaultAzureCredential.
    /// </summary>
    public TokenCredential? TokenCredential { get; init; }

    /// <summary>Where the AZURE_STORAGE_* variables are read; null = this process's environment (tests and hosts pass their own).</summary>
    public Func<string, string?>? Environment { get; init; }

    /// <summary>The descriptor settings of a repository reached through this account endpoint (null: none to record).</summary>
    public static IReadOnlyDictionary<string, string> DescriptorSettings(string? serviceEndpoint)
        => string.IsNullOrWhiteSpace(serviceEndpoint)
            ? new Dictionary<string, string>(StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal) { [EndpointSetting] = serviceEndpoint };

    /// <summary>These options, with the account endpoint a repository was reached through unless these name one.</summary>
    public AzureRepositoryOptions CompletedBy(RepositoryDescriptor descriptor) => this with
    {
        ServiceEndpoint = ServiceEndpoint ?? descriptor.Setting(EndpointSetting),
    };

    /// <summary>The tier's canonical spelling; an unknown one is an invalid repository option.</summary>
    internal static string NormalizeTier(string tier, string repository)
        => AccessTiers.FirstOrDefault(known => known.Equals(tier?.Trim(), StringComparison.OrdinalIgnoreCase))
            ?? throw new InvalidRepositoryException($"\"{tier}\" is not an Azure access tier; use one of {string.Join(", ", AccessTiers)}.", repository);
}
