using System.Runtime.InteropServices;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using PgBackup.Errors;

namespace PgBackup.Storage.S3;

/// <summary>
/// Streams an artifact of unknown length into S3 with no temporary file, as a multipart upload
/// whose parts <see cref="ParallelPartWriter{TPart}"/> cuts and sends in the background with
/// bounded memory.
/// <para>
/// A backup that fits in the first buffer never starts a multipart upload: it is sent with one
/// PutObject at commit (and so also carries its sha256 as metadata). Nothing is visible under the
/// key before <see cref="CommitAsync"/>; <see cref="AbortAsync"/> cancels the parts in flight and
/// sends AbortMultipartUpload, so no orphaned parts keep costing money.
/// </para>
/// </summary>
internal sealed class S3ArtifactUpload : IArtifactUpload
{
    private readonly S3Repository _repository;
    private readonly string _key;
    private readonly string _objectKey;
    private readonly ArtifactMetadata _metadata;
    private readonly ParallelPartWriter<PartETag> _parts;

    /// <summary>Each part's MD5 as sent, by part number: what the ETag of the completed upload must be made of.</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, byte[]> _partMd5s = new();

    private string? _uploadId;
    private bool _finished;

    /// <summary>The object exists under its key (PutObject or CompleteMultipartUpload succeeded) though the commit may not have finished.</summary>
    private bool _objectWritten;

    internal S3ArtifactUpload(S3Repository repository, string key, ArtifactMetadata metadata, int partSize, int maxPartsInFlight)
    {
        _repository = repository;
        _key = key;
        _objectKey = repository.ObjectKey(key);
        _metadata = metadata;
        _parts = new ParallelPartWriter<PartETag>(
            partSize,
            maxPartsInFlight,
            S3PartSizing.MaxParts,
            UploadPartAsync,
            InitiateAsync,
            S3Errors.IsTransient,
            ex => _repository.Translate(ex, _key, writing: true),
            _ => new RepositoryWriteFailedException(
                $"The backup outgrew {S3PartSizing.MaxParts:N0} parts of {partSize / S3PartSizing.MiB} MiB in {Location}: pass a larger -S3PartSizeMB.", Location));
    }

    public Stream Content => _parts.Content;

    public int PartSize => _parts.PartSize;

    /// <summary>Part buffers allocated so far: never more than parts in flight + 1.</summary>
    public int BuffersAllocated => _parts.BuffersAllocated;

    /// <summary>The multipart upload id once one was started (null while everything fits in one part).</summary>
    public string? UploadId => _uploadId;

    public async Task CommitAsync(string sha256, long sizeBytes, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        if (sizeBytes != _parts.Received)
        {
            throw new RepositoryWriteFailedException($"The backup claims {sizeBytes} bytes but {_parts.Received} were written to {Location}.", Location);
        }

        string? answeredETag;
        string expectedETag;
        if (!_parts.StartedParts)
        {
            // Everything fits in one part: a single PutObject, which can carry the sha256 too.
            var request = _repository.NewPutRequest(_key, _parts.PendingBytes, _repository.Options.StorageClass);
            request.IfNoneMatch = "*";
            S3ObjectMetadata.Apply(request.Metadata, _metadata with { Sha256 = sha256 });
            expectedETag = S3Repository.ExpectedETag([Convert.FromBase64String(request.MD5Digest)], multipart: false);
            var put = await StoreCall.RunAsync(ct => _repository.Client.PutObjectAsync(request, ct), ex => _repository.TranslateCreate(ex, _key), cancellationToken).ConfigureAwait(false);
            _objectWritten = true;
            answeredETag = put.ETag;
        }
        else
        {
            var parts = await _parts.FinishPartsAsync(cancellationToken).ConfigureAwait(false);
            // Never replaces another backup's artifact where the server honours If-None-Match (see WriteSmallObjectAsync).
            var complete = new CompleteMultipartUploadRequest { BucketName = _repository.S3.Bucket, Key = _objectKey, UploadId = _uploadId, PartETags = [.. parts], IfNoneMatch = "*" };
            expectedETag = S3Repository.ExpectedETag([.. Enumerable.Range(1, parts.Length).Select(number => _partMd5s[number])], multipart: true);
            var completed = await StoreCall.RunAsync(ct => _repository.Client.CompleteMultipartUploadAsync(complete, ct), ex => _repository.TranslateCreate(ex, _key), cancellationToken).ConfigureAwait(false);
            _objectWritten = true;
            answeredETag = completed.ETag;
        }

        // A 200 is not proof. An ETag that is the MD5 (of the part MD5s) of exactly what we sent is: S3 computed it from
        // the bytes it stored. Any other answer (SSE-KMS, a store with ETags of its own): ask what the object holds and
        // make sure it has the length we streamed.
        if (S3Repository.ETagMatches(answeredETag, expectedETag))
        {
            _finished = true;
            _parts.Complete();
            return;
        }

        var head = await _repository.SendAsync(_key, writing: false, ct => _repository.Client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _repository.S3.Bucket, Key = _objectKey }, ct), cancellationToken).ConfigureAwait(false);
        if (head.ContentLength != sizeBytes)
        {
            // AbortAsync (which every caller runs on failure) removes the wrong bytes from the final key.
            throw new RepositoryWriteFailedException($"{Location} holds {head.ContentLength} bytes after the upload, expected {sizeBytes}.", Location);
        }

        _finished = true;
        _parts.Complete();
    }

    public async Task AbortAsync()
    {
        if (_finished)
        {
            return;
        }

        _finished = true;
        await _parts.CancelAsync().ConfigureAwait(false);
        try
        {
            if (_objectWritten)
            {
                // Written but never committed (failed verification, or cancelled in between): not a backup.
                await _repository.DeleteAsync(_key, CancellationToken.None).ConfigureAwait(false);
            }
            else if (_uploadId is not null)
            {
                await _repository.AbortMultipartUploadAsync(_objectKey, _uploadId).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is PgBackupException or AmazonServiceException or HttpRequestException or IOException or OperationCanceledException)
        {
            // Best effort: the original failure matters more. A bucket lifecycle rule
            // (AbortIncompleteMultipartUpload) removes parts whose abort never arrived; an object
            // without a manifest is an incomplete backup, never mistaken for a good one.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await AbortAsync().ConfigureAwait(false);
        await _parts.DisposeAsync().ConfigureAwait(false);
    }

    private string Location => _repository.GetObjectLocation(_key);

    private async Task InitiateAsync(CancellationToken cancellationToken)
    {
        var initiate = new InitiateMultipartUploadRequest
        {
            BucketName = _repository.S3.Bucket,
            Key = _objectKey,
            StorageClass = new S3StorageClass(_repository.Options.StorageClass),
        };
        S3ObjectMetadata.Apply(initiate.Metadata, _metadata with { Sha256 = null });
        _repository.ApplyEncryption(initiate);
        var response = await _repository.SendAsync(_key, writing: true, ct => _repository.Client.InitiateMultipartUploadAsync(initiate, ct), cancellationToken).ConfigureAwait(false);
        _uploadId = response.UploadId;
    }

    private async Task<PartETag> UploadPartAsync(int partNumber, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var body = MemoryMarshal.TryGetArray(content, out var segment) ? segment : new ArraySegment<byte>(content.ToArray());
        var md5 = S3Repository.Md5(content.Span);
        _partMd5s[partNumber] = md5;
        var response = await _repository.Client.UploadPartAsync(
            new UploadPartRequest
            {
                BucketName = _repository.S3.Bucket,
                Key = _objectKey,
                UploadId = _uploadId,
                PartNumber = partNumber,
                InputStream = new MemoryStream(body.Array!, body.Offset, body.Count, writable: false),
                PartSize = body.Count,
                MD5Digest = Convert.ToBase64String(md5),
                // Plain body: some S3-compatible servers store aws-chunked framing as data.
                UseChunkEncoding = false,
            },
            cancellationToken).ConfigureAwait(false);
        return new PartETag(partNumber, response.ETag);
    }
}
