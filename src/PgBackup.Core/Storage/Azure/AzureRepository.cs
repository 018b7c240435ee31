using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Azure;
using Azure.Core;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using PgBackup.Errors;

namespace PgBackup.Storage.Azure;

/// <summary>
/// A repository under a prefix of an Azure Blob Storage container (Azure itself or an emulator
/// such as Azurite). Artifacts stream in as staged blocks committed at the end (see
/// <see cref="AzureArtifactUpload"/>); every other object is one Put Blob. Every request body
/// carries a Content-MD5 the service checks. The same layout, manifests and metadata as S3.
/// </summary>
internal sealed class AzureRepository : IBackupRepository
{
    /// <summary>A failed or cancelled backup's clean-up gets its own time budget.</summary>
    internal static readonly TimeSpan CleanupTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Manifests are read by every listing: keep them out of tiers with retrieval fees and minimum storage days.</summary>
    private static readonly AccessTier ManifestTier = global::Azure.Storage.Blobs.Models.AccessTier.Hot;

    private readonly Lazy<AzureConnection> _connection;
    private readonly Lazy<BlobContainerClient> _container;
    private readonly int? _listPageSize;

    public AzureRepository(AzureBlobLocation location, AzureRepositoryOptions options)
    {
        var repository = location.ToString();
        if (options.MaxBlocksInFlight < 1)
        {
            throw new InvalidRepositoryException("At least one block must be allowed in flight.", repository);
        }

        if (options.ListPageSize is < 1 or > 5000)
        {
            throw new InvalidRepositoryException("A listing page holds 1 to 5,000 blobs.", repository);
        }

        // Validates an explicit block size and the tier now, before any backup starts.
        AzureBlockSizing.Choose(null, options.BlockSizeBytes);
        ArtifactTier = new AccessTier(AzureRepositoryOptions.NormalizeTier(options.AccessTier, repository));
        Options = options;
        _listPageSize = options.ListPageSize;
        var environment = options.Environment ?? System.Environment.GetEnvironmentVariable;
        Azure = AzureConnectionResolver.ResolveAccount(location, options.ServiceEndpoint, environment);
        Location = repository;
        // A URL names its endpoint; an az:// location does not, so the account endpoint is remembered with every backup.
        Endpoint = location.ServiceUri is null ? Azure.ServiceUri!.ToString().TrimEnd('/') : null;
        // Credentials are looked up on first use: a missing one is then an error of the operation, as on S3.
        _connection = new Lazy<AzureConnection>(() => AzureConnectionResolver.Resolve(Azure, environment, options.TokenCredential is { } token ? () => token : null));
        _container = new Lazy<BlobContainerClient>(() => CreateClient(
            ContainerUri,
            (uri, key, o) => new BlobContainerClient(uri, key, o),
            (uri, sas, o) => new BlobContainerClient(uri, sas, o),
            (uri, token, o) => new BlobContainerClient(uri, token, o)));
    }

    /// <summary>The location with its account resolved (for az://, from the environment).</summary>
    public AzureBlobLocation Azure { get; }

    public AzureRepositoryOptions Options { get; }

    public string Location { get; }

    /// <summary>For az:// locations, the account's blob endpoint in use; null for URLs, which name it themselves.</summary>
    public string? Endpoint { get; }

    /// <summary>The location and, for az://, the account endpoint: a piped backup re-opens the same account without AZURE_STORAGE_ACCOUNT.</summary>
    public RepositoryDescriptor Descriptor => new(Location, AzureRepositoryOptions.DescriptorSettings(Endpoint));

    /// <summary>The account endpoint and where its credentials came from (resolved on first use).</summary>
    public AzureConnection Connection => _connection.Value;

    internal AccessTier ArtifactTier { get; }

    private Uri ContainerUri => new($"{Azure.ServiceUri!.ToString().TrimEnd('/')}/{Azure.Container}");

    private BlobContainerClient Container => _container.Value;

    public string GetObjectLocation(string key)
    {
        BlobName(key);
        return $"{Location}/{key}";
    }

    public Task EnsureWritableAsync(CancellationToken cancellationToken) => CheckContainerAsync(toleratesMissingPermission: true, cancellationToken);

    public Task EnsureExistsAsync(CancellationToken cancellationToken) => CheckContainerAsync(toleratesMissingPermission: false, cancellationToken);

    public async Task<IArtifactUpload> BeginArtifactAsync(string key, ArtifactMetadata metadata, long? expectedSizeBytes, CancellationToken cancellationToken)
    {
        var blockSize = AzureBlockSizing.Choose(expectedSizeBytes, Options.BlockSizeBytes);
        // Found taken before a byte is dumped, the backup draws another name; the commit's If-None-Match closes the race.
        if (await SmallObjects.TakenAsync(this, key, cancellationToken).ConfigureAwait(false))
        {
            throw SmallObjects.Exists(GetObjectLocation(key));
        }

        return new AzureArtifactUpload(this, key, metadata, (int)blockSize, Options.MaxBlocksInFlight);
    }

    public async Task WriteSmallObjectAsync(string key, ReadOnlyMemory<byte> content, ArtifactMetadata? metadata, CancellationToken cancellationToken)
    {
#pragma warning disable CA5351 // Content-MD5 is the service's integrity check of a request body, not a security measure.
        var md5 = MD5.HashData(content.Span);
#pragma warning restore CA5351
        var options = new BlobUploadOptions
        {
            // Told by the name, not the content: a store never reads what it is asked to write.
            HttpHeaders = new BlobHttpHeaders { ContentType = key.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? "application/json" : "application/octet-stream", ContentHash = md5 },
            Metadata = metadata is null ? null : BackupObjectMetadata.For(metadata),
            AccessTier = ManifestTier,
            // The SDK sends the body's MD5 (computed by itself: it refuses a precalculated one for uploads it might split).
            TransferValidation = new UploadTransferValidationOptions { ChecksumAlgorithm = StorageChecksumAlgorithm.MD5 },
            // Create-only: the service (and Azurite) refuses to replace an existing blob.
            Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
        };

        // One Put Blob: readers see all of it or nothing.
        await SmallObjects.CreateAsync(
            this,
            key,
            content,
            token => StoreCall.RunAsync(
                ct => BlockBlob(key).UploadAsync(new MemoryStream(content.ToArray(), writable: false), options, ct),
                ex => ex is RequestFailedException { ErrorCode: "BlobAlreadyExists" or "ConditionNotMet" } ? SmallObjects.Exists(GetObjectLocation(key), ex) : Translate(ex, key, writing: true),
                token),
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<byte[]> ReadSmallObjectAsync(string key, CancellationToken cancellationToken)
    {
        var response = await SendAsync(key, writing: false, ct => BlockBlob(key).DownloadStreamingAsync(cancellationToken: ct), cancellationToken).ConfigureAwait(false);
        using var download = response.Value;
        return await SendAsync(
            key,
            writing: false,
            ct => SmallObjects.ReadBoundedAsync(download.Content, download.Details.ContentLength, GetObjectLocation(key), ct),
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        var blob = BlockBlob(key);
        var first = await SendAsync(key, writing: false, ct => blob.DownloadStreamingAsync(cancellationToken: ct), cancellationToken).ConfigureAwait(false);
        var etag = first.Value.Details.ETag;
        return new ResumableReadStream(
            first.Value.Content,
            first.Value.Details.ContentLength,
            async (position, ct) =>
            {
                var rest = new BlobDownloadOptions { Range = new HttpRange(position), Conditions = new BlobRequestConditions { IfMatch = etag } };
                var resumed = await SendAsync(key, writing: false, c => blob.DownloadStreamingAsync(rest, c), ct).ConfigureAwait(false);
                return resumed.Value.Content;
            },
            NetworkFailure.IsNetworkFailure,
            ex => Translate(ex, key, writing: false),
            GetObjectLocation(key));
    }

    public async Task<bool> ExistsAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            await BlockBlob(key).GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (RequestFailedException ex) when (ex.ErrorCode == "BlobNotFound" || (ex.Status == 404 && ex.ErrorCode != "ContainerNotFound"))
        {
            return false;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw Translate(ex, key, writing: false);
        }
    }

    public async IAsyncEnumerable<RepositoryObject> ListAsync(string keyPrefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var root = Azure.Prefix.Length == 0 ? string.Empty : Azure.Prefix + "/";
        var pages = Container.GetBlobsAsync(new GetBlobsOptions { Prefix = root + keyPrefix }, cancellationToken).AsPages(pageSizeHint: _listPageSize).GetAsyncEnumerator(cancellationToken);
        await using (pages.ConfigureAwait(false))
        {
            while (await SendAsync(string.Empty, writing: false, _ => pages.MoveNextAsync().AsTask(), cancellationToken).ConfigureAwait(false))
            {
                foreach (var item in pages.Current.Values)
                {
                    yield return new RepositoryObject(item.Name[root.Length..], item.Properties.ContentLength ?? 0, item.Properties.LastModified?.UtcDateTime ?? DateTime.MinValue);
                }
            }
        }
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken)
        => SendAsync(key, writing: true, ct => BlockBlob(key).DeleteIfExistsAsync(DeleteSnapshotsOption.IncludeSnapshots, cancellationToken: ct), cancellationToken);

    /// <summary>The blob name of a key; refuses keys that could escape the prefix once a client normalizes them.</summary>
    internal string BlobName(string key)
    {
        if (key.StartsWith('/') || key.Split('/').Any(segment => segment is "." or ".."))
        {
            throw new InvalidManifestException($"The key \"{key}\" points outside the repository {Location}.", key);
        }

        return Azure.BlobName(key);
    }

    /// <summary>
    /// A client for one blob, addressed by its full URI: the SDK's own URL parsing takes a path-style
    /// emulator URL on a host name (http://localhost:12345/account/…) for a container and drops a segment.
    /// </summary>
    internal BlockBlobClient BlockBlob(string key)
    {
        var uri = new Uri($"{ContainerUri}/{string.Join('/', BlobName(key).Split('/').Select(Uri.EscapeDataString))}");
        return CreateClient(uri, (u, k, o) => new BlockBlobClient(u, k, o), (u, s, o) => new BlockBlobClient(u, s, o), (u, t, o) => new BlockBlobClient(u, t, o));
    }

    internal PgBackupException Translate(Exception ex, string key, bool writing)
        => AzureErrors.Translate(
            ex,
            Azure,
            Endpoint is null ? Location : $"{Location} at {Endpoint}",
            key.Length == 0 ? Location : GetObjectLocation(key),
            writing,
            _connection.IsValueCreated ? _connection.Value : null);

    /// <summary>Runs one SDK call, mapping its failures to typed errors (cancellation passes through).</summary>
    internal Task<T> SendAsync<T>(string key, bool writing, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
        => StoreCall.RunAsync(call, ex => Translate(ex, key, writing), cancellationToken);

    private T CreateClient<T>(
        Uri uri,
        Func<Uri, StorageSharedKeyCredential, BlobClientOptions, T> withKey,
        Func<Uri, AzureSasCredential, BlobClientOptions, T> withSas,
        Func<Uri, TokenCredential, BlobClientOptions, T> withToken)
    {
        var connection = Connection;
        var options = new BlobClientOptions
        {
            Retry = { Mode = RetryMode.Exponential, MaxRetries = 4, Delay = TimeSpan.FromMilliseconds(400), MaxDelay = TimeSpan.FromSeconds(10) },
            Diagnostics = { ApplicationId = "PgBackup" },
        };
        return connection.SharedKey is { } key ? withKey(uri, key, options)
            : connection.Sas is { } sas ? withSas(uri, sas, options)
            : withToken(uri, connection.Token!, options);
    }

    private async Task CheckContainerAsync(bool toleratesMissingPermission, CancellationToken cancellationToken)
    {
        try
        {
            var pages = Container.GetBlobsAsync(new GetBlobsOptions { Prefix = Azure.Prefix }, cancellationToken).AsPages(pageSizeHint: 1).GetAsyncEnumerator(cancellationToken);
            await using (pages.ConfigureAwait(false))
            {
                await pages.MoveNextAsync().ConfigureAwait(false);
            }
        }
        catch (RequestFailedException ex) when (toleratesMissingPermission && AzureErrors.IsPermissionMismatch(ex))
        {
            // Backup-only credentials (a write-only SAS, a data-writer role) may write without being allowed to list: the uploads will tell.
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            throw Translate(ex, string.Empty, writing: false);
        }
    }
}
