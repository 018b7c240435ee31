using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Azure;
using Azure.Storage;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;
using PgBackup.Errors;

namespace PgBackup.Storage.Azure;

/// <summary>
/// Streams an artifact of unknown length into Azure Blob Storage with no temporary file: blocks
/// are staged (Put Block) in the background by <see cref="ParallelPartWriter{TPart}"/> with bounded
/// memory, and committed in one Put Block List at the end, with the metadata (sha256 included: it
/// is known by then), the access tier and the whole blob's Content-MD5.
/// <para>
/// Nothing is visible under the key before the commit. Staged blocks that are never committed —
/// after a failure, a cancellation or a kill — are not a blob: Azure discards them after a week.
/// The commit refuses to replace an existing blob (If-None-Match: *); a commit whose answer was
/// lost and that the SDK retried is recognised by the Content-MD5, length and sha256 it set.
/// Every block carries a Content-MD5 the service checks; after the commit, the blob's length is
/// checked too, so a 201 for bytes that were not stored fails the backup.
/// </para>
/// </summary>
internal sealed class AzureArtifactUpload : IArtifactUpload
{
    private readonly AzureRepository _repository;
    private readonly string _key;
    private readonly ArtifactMetadata _metadata;
    private readonly ParallelPartWriter<string> _blocks;
    private readonly IncrementalHash _md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);

    /// <summary>Unique to this upload, inside every block id: another writer's staged blocks under the same key never mix with ours.</summary>
    private readonly string _nonce = Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant();

    private bool _finished;
    private bool _commitSent;

    /// <summary>The ETag of the blob this upload committed.</summary>
    private ETag? _committed;

    /// <summary>What the commit sets on the blob, known once the last byte was written.</summary>
    private CommittedIdentity? _identity;

    internal AzureArtifactUpload(AzureRepository repository, string key, ArtifactMetadata metadata, int blockSize, int maxBlocksInFlight)
    {
        _repository = repository;
        _key = key;
        _metadata = metadata;
        _blocks = new ParallelPartWriter<string>(
            blockSize,
            maxBlocksInFlight,
            AzureBlockSizing.MaxBlocks,
            StageBlockAsync,
            _ => Task.CompletedTask,
            AzureErrors.IsTransient,
            ex => _repository.Translate(ex, _key, writing: true),
            _ => new RepositoryWriteFailedException(
                $"The backup outgrew {AzureBlockSizing.MaxBlocks:N0} blocks of {blockSize / AzureBlockSizing.MiB} MiB in {Location}: pass a larger -AzureBlockSizeMB.", Location),
            // The whole blob's MD5, for its Content-MD5 property (azcopy and other tools check it).
            bytes => _md5.AppendData(bytes.Span));
    }

    public Stream Content => _blocks.Content;

    public int BlockSize => _blocks.PartSize;

    /// <summary>Block buffers allocated so far: never more than blocks in flight + 1.</summary>
    public int BuffersAllocated => _blocks.BuffersAllocated;

    /// <summary>The block id of block <paramref name="number"/> (1-based) of an upload: same length for every block, as Azure requires.</summary>
    public static string BlockId(string nonce, int number) => Convert.ToBase64String(Encoding.ASCII.GetBytes($"{nonce}-{number.ToString("D6", CultureInfo.InvariantCulture)}"));

    public async Task CommitAsync(string sha256, long sizeBytes, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        if (sizeBytes != _blocks.Received)
        {
            throw new RepositoryWriteFailedException($"The backup claims {sizeBytes} bytes but {_blocks.Received} were written to {Location}.", Location);
        }

        var blockIds = _blocks.StartedParts ? await _blocks.FinishPartsAsync(cancellationToken).ConfigureAwait(false) : null;
        _identity = new CommittedIdentity(_md5.GetHashAndReset(), sizeBytes, sha256);
        var headers = new BlobHttpHeaders { ContentType = "application/octet-stream", ContentHash = _identity.ContentMd5 };
        var metadata = BackupObjectMetadata.For(_metadata with { Sha256 = sha256 });
        var notOverwriting = new BlobRequestConditions { IfNoneMatch = ETag.All };
        var blob = _repository.BlockBlob(_key);
        _commitSent = true;
        try
        {
            _committed = blockIds is null
                // Everything fits in one block: a single Put Blob, its body checked against its MD5 by the service.
                ? (await blob.UploadAsync(
                    AsStream(_blocks.PendingBytes),
                    new BlobUploadOptions
                    {
                        HttpHeaders = headers,
                        Metadata = metadata,
                        AccessTier = _repository.ArtifactTier,
                        Conditions = notOverwriting,
                        // The SDK sends the body's MD5 (computed by itself: it refuses a precalculated one for uploads it might split).
                        TransferValidation = new UploadTransferValidationOptions { ChecksumAlgorithm = StorageChecksumAlgorithm.MD5 },
                    },
                    cancellationToken).ConfigureAwait(false)).Value.ETag
                : (await blob.CommitBlockListAsync(
                    blockIds,
                    new CommitBlockListOptions { HttpHeaders = headers, Metadata = metadata, AccessTier = _repository.ArtifactTier, Conditions = notOverwriting },
                    cancellationToken).ConfigureAwait(false)).Value.ETag;
        }
        catch (RequestFailedException ex) when (ex.ErrorCode is "BlobAlreadyExists" or "ConditionNotMet" && !cancellationToken.IsCancellationRequested)
        {
            // Either this commit, retried by the SDK after its answer was lost, or another blob (never replaced).
            _committed = await CommittedByThisUploadAsync(cancellationToken).ConfigureAwait(false)
                ?? throw new RepositoryObjectExistsException($"{Location} already exists and was not written by this backup: it was left untouched.", Location, ex);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            throw _repository.Translate(ex, _key, writing: true);
        }

        // A 201 is not proof: make sure the blob Azure now holds has the length we streamed.
        if (await CommittedLengthAsync(blob, cancellationToken).ConfigureAwait(false) is { } length && length != sizeBytes)
        {
            // AbortAsync (which every caller runs on failure) removes the wrong bytes from the final key.
            throw new RepositoryWriteFailedException($"{Location} holds {length} bytes after the upload, expected {sizeBytes}.", Location);
        }

        _finished = true;
        _blocks.Complete();
    }

    public async Task AbortAsync()
    {
        if (_finished)
        {
            return;
        }

        _finished = true;
        await _blocks.CancelAsync().ConfigureAwait(false);
        if (!_commitSent)
        {
            // Only staged blocks: never committed, they are no blob and Azure drops them.
            return;
        }

        try
        {
            using var timeout = new CancellationTokenSource(AzureRepository.CleanupTimeout);
            // A commit that was cut short may still have landed: delete the blob only if it is the one this upload committed.
            _committed ??= await CommittedByThisUploadAsync(timeout.Token).ConfigureAwait(false);
            if (_committed is { } etag)
            {
                await _repository.BlockBlob(_key).DeleteIfExistsAsync(DeleteSnapshotsOption.IncludeSnapshots, new BlobRequestConditions { IfMatch = etag }, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is PgBackupException or RequestFailedException or HttpRequestException or IOException or OperationCanceledException or AggregateException)
        {
            // Best effort: the original failure matters more, and a blob without a manifest is an
            // incomplete backup, never mistaken for a good one (Remove-PgBackupExpired -IncludeIncomplete removes it).
        }
    }

    public async ValueTask DisposeAsync()
    {
        await AbortAsync().ConfigureAwait(false);
        await _blocks.DisposeAsync().ConfigureAwait(false);
        _md5.Dispose();
    }

    private string Location => _repository.GetObjectLocation(_key);

    /// <summary>
    /// The committed blob's length; null when the credentials may write but not read (a write-only SAS,
    /// a backup-only role): then the service's own Content-MD5 check of every block is the proof.
    /// </summary>
    private async Task<long?> CommittedLengthAsync(BlockBlobClient blob, CancellationToken cancellationToken)
    {
        try
        {
            return (await blob.GetPropertiesAsync(new BlobRequestConditions { IfMatch = _committed }, cancellationToken).ConfigureAwait(false)).Value.ContentLength;
        }
        catch (RequestFailedException ex) when (AzureErrors.IsPermissionMismatch(ex))
        {
            return null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw _repository.Translate(ex, _key, writing: false);
        }
    }

    /// <summary>A read-only stream over the bytes, without copying a buffer that may be a whole block.</summary>
    private static MemoryStream AsStream(ReadOnlyMemory<byte> content)
    {
        var body = MemoryMarshal.TryGetArray(content, out var segment) ? segment : new ArraySegment<byte>(content.ToArray());
        return new MemoryStream(body.Array!, body.Offset, body.Count, writable: false);
    }

    private async Task<string> StageBlockAsync(int number, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var blockId = BlockId(_nonce, number);
#pragma warning disable CA5351 // Content-MD5 is the service's integrity check of a request body, not a security measure.
        var md5 = MD5.HashData(content.Span);
#pragma warning restore CA5351
        var response = await _repository.BlockBlob(_key).StageBlockAsync(
            blockId,
            AsStream(content),
            new BlockBlobStageBlockOptions { TransferValidation = new UploadTransferValidationOptions { ChecksumAlgorithm = StorageChecksumAlgorithm.MD5, PrecalculatedChecksum = md5 } },
            cancellationToken).ConfigureAwait(false);
        if (response.Value.ContentHash is { Length: > 0 } stored && !stored.AsSpan().SequenceEqual(md5))
        {
            // The service says what it computed over the bytes it received: not what we sent.
            throw new RepositoryWriteFailedException($"Azure stored other bytes than were sent for block {number} of {Location}.", Location);
        }

        return blockId;
    }

    /// <summary>
    /// The ETag of the blob under the key when it is the one this upload committed: the Content-MD5,
    /// length and sha256 metadata the commit set, so the very same bytes. Else null.
    /// </summary>
    private async Task<ETag?> CommittedByThisUploadAsync(CancellationToken cancellationToken)
    {
        try
        {
            var properties = (await _repository.BlockBlob(_key).GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value;
            var ours = _identity is { } identity
                && properties.ContentLength == identity.SizeBytes
                && properties.ContentHash is { } md5 && md5.AsSpan().SequenceEqual(identity.ContentMd5)
                && properties.Metadata.TryGetValue(BackupObjectMetadata.Sha256, out var sha256) && sha256 == identity.Sha256;
            return ours ? properties.ETag : null;
        }
        catch (RequestFailedException ex) when (ex.ErrorCode == "BlobNotFound")
        {
            return null;
        }
    }

    private sealed record CommittedIdentity(byte[] ContentMd5, long SizeBytes, string Sha256);
}
