using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Amazon.S3;
using Amazon.S3.Model;
using PgBackup.Errors;

namespace PgBackup.Storage.S3;

/// <summary>
/// A repository under an S3 prefix (AWS or any S3-compatible server). Artifacts stream in as
/// multipart uploads (see <see cref="S3ArtifactUpload"/>); every other object is one PutObject.
/// Every request body is sent plainly (no aws-chunked encoding) with a Content-MD5, so a server
/// that mishandles chunked bodies cannot silently store something else.
/// </summary>
internal sealed class S3Repository : IBackupRepository, IDisposable
{
    /// <summary>Manifests are read by every listing: keep them out of infrequent-access classes (retrieval fees, 128 KiB minimum).</summary>
    private const string ManifestStorageClass = "STANDARD";
    private static readonly TimeSpan AbortTimeout = TimeSpan.FromSeconds(60);

    private readonly IAmazonS3 _client;

    public S3Repository(S3Location location, S3RepositoryOptions options)
        : this(location, options, S3ClientFactory.Create(options, location.ToString()))
    {
    }

    public S3Repository(S3Location location, S3RepositoryOptions options, IAmazonS3 client)
    {
        if (options.ServerSideEncryption != S3ServerSideEncryption.AwsKms && options.KmsKeyId is not null)
        {
            throw new InvalidRepositoryException("A KMS key id needs server-side encryption aws:kms.", location.ToString());
        }

        if (options.MaxPartsInFlight < 1)
        {
            throw new InvalidRepositoryException("At least one part must be allowed in flight.", location.ToString());
        }

        // Validates an explicit part size now, before any backup starts.
        S3PartSizing.Choose(null, options.PartSizeBytes);
        S3 = location;
        Options = options;
        Endpoint = S3ClientFactory.ResolveEndpoint(options.Endpoint);
        _client = client;
    }

    public S3Location S3 { get; }

    public S3RepositoryOptions Options { get; }

    /// <summary>The custom endpoint in use, or null for AWS.</summary>
    public string? Endpoint { get; }

    public RepositoryDescriptor Descriptor => new(Location, S3RepositoryOptions.DescriptorSettings(Endpoint, Options.Region));

    internal IAmazonS3 Client => _client;

    public string Location => S3.ToString();

    public string GetObjectLocation(string key) => $"{S3Location.Scheme}{S3.Bucket}/{ObjectKey(key)}";

    public Task EnsureWritableAsync(CancellationToken cancellationToken) => CheckBucketAsync(toleratesAccessDenied: true, cancellationToken);

    public Task EnsureExistsAsync(CancellationToken cancellationToken) => CheckBucketAsync(toleratesAccessDenied: false, cancellationToken);

    public async Task<IArtifactUpload> BeginArtifactAsync(string key, ArtifactMetadata metadata, long? expectedSizeBytes, CancellationToken cancellationToken)
    {
        var partSize = S3PartSizing.Choose(expectedSizeBytes, Options.PartSizeBytes);
        // Found taken before a byte is dumped, the backup draws another name; the commit's If-None-Match closes the race.
        if (await SmallObjects.TakenAsync(this, key, cancellationToken).ConfigureAwait(false))
        {
            throw SmallObjects.Exists(GetObjectLocation(key));
        }

        return new S3ArtifactUpload(this, key, metadata, (int)partSize, Options.MaxPartsInFlight);
    }

    public async Task WriteSmallObjectAsync(string key, ReadOnlyMemory<byte> content, ArtifactMetadata? metadata, CancellationToken cancellationToken)
    {
        // Create-only. If-None-Match: * makes S3 refuse to replace an object, but s3rver (the test server, like some
        // S3-compatible stores) ignores the header and would overwrite: so CreateAsync looks first as well. The look
        // leaves a race between two writers that only the header closes, where the server honours it.
        var request = NewPutRequest(key, content, ManifestStorageClass);
        request.IfNoneMatch = "*";
        if (metadata is not null)
        {
            S3ObjectMetadata.Apply(request.Metadata, metadata);
        }

        await SmallObjects.CreateAsync(
            this,
            key,
            content,
            token => StoreCall.RunAsync(ct => _client.PutObjectAsync(request, ct), ex => TranslateCreate(ex, key), token),
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<byte[]> ReadSmallObjectAsync(string key, CancellationToken cancellationToken)
    {
        return await SendAsync(key, writing: false, async ct =>
        {
            using var response = await _client.GetObjectAsync(new GetObjectRequest { BucketName = S3.Bucket, Key = ObjectKey(key) }, ct).ConfigureAwait(false);
            return await SmallObjects.ReadBoundedAsync(response.ResponseStream, response.ContentLength, GetObjectLocation(key), ct).ConfigureAwait(false);
        }, cancellationToken).ConfigureAwait(false);
    }

    public Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken) => S3ObjectReadStream.OpenAsync(this, key, cancellationToken);

    public async Task<bool> ExistsAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            await _client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = S3.Bucket, Key = ObjectKey(key) }, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (AmazonS3Exception ex) when (S3Errors.IsNotFound(ex) && ex.ErrorCode != "NoSuchBucket")
        {
            return false;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw Translate(ex, key, writing: false);
        }
    }

    public async IAsyncEnumerable<RepositoryObject> ListAsync(string keyPrefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var root = S3.Prefix.Length == 0 ? string.Empty : S3.Prefix + "/";
        var request = new ListObjectsV2Request { BucketName = S3.Bucket, Prefix = root + keyPrefix };
        do
        {
            var page = await SendAsync(string.Empty, writing: false, ct => _client.ListObjectsV2Async(request, ct), cancellationToken).ConfigureAwait(false);
            // SDK v4 leaves S3Objects null when a page has no objects.
            foreach (var item in page.S3Objects ?? [])
            {
                yield return new RepositoryObject(item.Key[root.Length..], item.Size ?? 0, item.LastModified?.ToUniversalTime() ?? DateTime.MinValue);
            }

            request.ContinuationToken = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (request.ContinuationToken is not null);
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken)
        => SendAsync(key, writing: true, ct => _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = S3.Bucket, Key = ObjectKey(key) }, ct), cancellationToken);

    public void Dispose() => _client.Dispose();

    /// <summary>The full object key; refuses keys that could escape the prefix once a client normalizes them.</summary>
    internal string ObjectKey(string key)
    {
        if (key.StartsWith('/') || key.Split('/').Any(segment => segment is "." or ".."))
        {
            throw new InvalidManifestException($"The key \"{key}\" points outside the repository {Location}.", key);
        }

        return S3.ObjectKey(key);
    }

    internal PutObjectRequest NewPutRequest(string key, ReadOnlyMemory<byte> content, string storageClass)
    {
        var request = new PutObjectRequest
        {
            BucketName = S3.Bucket,
            Key = ObjectKey(key),
            // Wraps the caller's array when there is one: a single-part artifact can be a large buffer.
            InputStream = MemoryMarshal.TryGetArray(content, out var segment)
                ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
                : new MemoryStream(content.ToArray(), writable: false),
            MD5Digest = ContentMd5(content.Span),
            StorageClass = new S3StorageClass(storageClass),
            UseChunkEncoding = false,
            AutoCloseStream = true,
        };
        ApplyEncryption(request);
        return request;
    }

    internal void ApplyEncryption(PutObjectRequest request)
    {
        (request.ServerSideEncryptionMethod, request.ServerSideEncryptionKeyManagementServiceKeyId) = EncryptionHeaders();
    }

    internal void ApplyEncryption(InitiateMultipartUploadRequest request)
    {
        (request.ServerSideEncryptionMethod, request.ServerSideEncryptionKeyManagementServiceKeyId) = EncryptionHeaders();
    }

    /// <summary>Content-MD5 is S3's integrity check of a request body, not a security measure.</summary>
#pragma warning disable CA5351
    internal static string ContentMd5(ReadOnlySpan<byte> content) => Convert.ToBase64String(MD5.HashData(content));

    /// <summary>The MD5 of a request body: Content-MD5 is its base64, the ETag S3 answers for a plain object its hex.</summary>
    internal static byte[] Md5(ReadOnlySpan<byte> content) => MD5.HashData(content);

    /// <summary>
    /// The ETag S3 gives an object it stored from exactly these bytes — one PutObject: the body's MD5; a multipart
    /// upload: the MD5 of the parts' MD5s in order, a dash and the part count — or the unquoted ETag it answered.
    /// (Objects encrypted with SSE-KMS, and some S3-compatible stores, answer other ETags: they never match.)
    /// </summary>
    internal static string ExpectedETag(IReadOnlyList<byte[]> partMd5s, bool multipart)
        => multipart
            ? Convert.ToHexString(MD5.HashData(partMd5s.SelectMany(md5 => md5).ToArray())) + "-" + partMd5s.Count.ToString(System.Globalization.CultureInfo.InvariantCulture)
            : Convert.ToHexString(partMd5s.Single());
#pragma warning restore CA5351

    /// <summary>Whether S3's answer to a write names exactly the bytes sent (<see cref="ExpectedETag"/>).</summary>
    internal static bool ETagMatches(string? answered, string expected)
        => answered is not null && string.Equals(answered.Trim('"'), expected, StringComparison.OrdinalIgnoreCase);

    /// <summary>A create-only write's failure: a refused precondition means the key is taken.</summary>
    internal PgBackupException TranslateCreate(Exception ex, string key)
        => ex is AmazonS3Exception { StatusCode: System.Net.HttpStatusCode.PreconditionFailed or System.Net.HttpStatusCode.Conflict }
            ? SmallObjects.Exists(GetObjectLocation(key), ex)
            : Translate(ex, key, writing: true);

    internal PgBackupException Translate(Exception ex, string key, bool writing)
        => S3Errors.Translate(ex, S3, Endpoint, key.Length == 0 ? Location : GetObjectLocation(key), writing);

    /// <summary>Runs one SDK call, mapping its failures to typed errors (cancellation passes through).</summary>
    internal Task<T> SendAsync<T>(string key, bool writing, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken)
        => StoreCall.RunAsync(call, ex => Translate(ex, key, writing), cancellationToken);

    internal async Task AbortMultipartUploadAsync(string objectKey, string uploadId)
    {
        // The backup is already over (failed or cancelled): the abort gets its own time budget.
        using var timeout = new CancellationTokenSource(AbortTimeout);
        await _client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = S3.Bucket, Key = objectKey, UploadId = uploadId }, timeout.Token).ConfigureAwait(false);
    }

    private (ServerSideEncryptionMethod? Method, string? KmsKeyId) EncryptionHeaders() => Options.ServerSideEncryption switch
    {
        S3ServerSideEncryption.AES256 => (ServerSideEncryptionMethod.AES256, null),
        S3ServerSideEncryption.AwsKms => (ServerSideEncryptionMethod.AWSKMS, Options.KmsKeyId),
        _ => (null, null),
    };

    private async Task CheckBucketAsync(bool toleratesAccessDenied, CancellationToken cancellationToken)
    {
        try
        {
            await _client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = S3.Bucket, Prefix = S3.Prefix, MaxKeys = 1 }, cancellationToken).ConfigureAwait(false);
        }
        catch (AmazonS3Exception ex) when (toleratesAccessDenied && S3Errors.IsAccessDenied(ex) && ex.ErrorCode == "AccessDenied")
        {
            // Backup-only credentials may write without being allowed to list: the uploads will tell.
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
