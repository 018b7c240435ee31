using System.Collections.Concurrent;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using PgBackup.Errors;

namespace PgBackup.Storage.S3;

/// <summary>
/// Streams an artifact of unknown length into S3 with no temporary file. Bytes fill a part
/// buffer; each full buffer is uploaded as one part in the background while the next one fills.
/// At most (parts in flight + 1) buffers exist: when all are busy the writer waits, which holds
/// pg_dump back through its pipe — memory stays bounded whatever the database size.
/// <para>
/// A backup that fits in the first buffer never starts a multipart upload: it is sent with one
/// PutObject at commit (and so also carries its sha256 as metadata). Nothing is visible under the
/// key before <see cref="CommitAsync"/>; <see cref="AbortAsync"/> cancels the parts in flight and
/// sends AbortMultipartUpload, so no orphaned parts keep costing money.
/// </para>
/// </summary>
internal sealed class S3ArtifactUpload : IArtifactUpload
{
    private const int PartAttempts = 4;

    private readonly S3Repository _repository;
    private readonly string _key;
    private readonly string _objectKey;
    private readonly ArtifactMetadata _metadata;
    private readonly int _partSize;
    private readonly SemaphoreSlim _bufferSlots;
    private readonly SemaphoreSlim _uploadSlots;
    private readonly ConcurrentBag<byte[]> _freeBuffers = [];
    private readonly List<Task<PartETag>> _parts = [];
    private readonly CancellationTokenSource _abort = new();
    private readonly PartStream _content;

    private byte[]? _current;
    private int _filled;
    private long _received;
    private string? _uploadId;
    private int _buffersAllocated;
    private bool _finished;

    /// <summary>The object exists under its key (PutObject or CompleteMultipartUpload succeeded) though the commit may not have finished.</summary>
    private bool _objectWritten;

    internal S3ArtifactUpload(S3Repository repository, string key, ArtifactMetadata metadata, int partSize, int maxPartsInFlight)
    {
        _repository = repository;
        _key = key;
        _objectKey = repository.ObjectKey(key);
        _metadata = metadata;
        _partSize = partSize;
        // One buffer fills while the others upload (or wait for an upload slot).
        _bufferSlots = new SemaphoreSlim(maxPartsInFlight + 1);
        _uploadSlots = new SemaphoreSlim(maxPartsInFlight);
        _content = new PartStream(this);
    }

    public Stream Content => _content;

    public int PartSize => _partSize;

    /// <summary>Part buffers allocated so far: never more than parts in flight + 1.</summary>
    public int BuffersAllocated => Volatile.Read(ref _buffersAllocated);

    /// <summary>The multipart upload id once one was started (null while everything fits in one part).</summary>
    public string? UploadId => _uploadId;

    public async Task CommitAsync(string sha256, long sizeBytes, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        if (sizeBytes != _received)
        {
            throw new RepositoryWriteFailedException($"The backup claims {sizeBytes} bytes but {_received} were written to {Location}.", Location);
        }

        if (_uploadId is null)
        {
            // Everything fits in one part: a single PutObject, which can carry the sha256 too.
            var request = _repository.NewPutRequest(_key, _current.AsMemory(0, _filled), _repository.Options.StorageClass);
            S3ObjectMetadata.Apply(request.Metadata, _metadata with { Sha256 = sha256 });
            await _repository.SendAsync(_key, writing: true, ct => _repository.Client.PutObjectAsync(request, ct), cancellationToken).ConfigureAwait(false);
            _objectWritten = true;
        }
        else
        {
            if (_filled > 0)
            {
                await StartPartAsync(cancellationToken).ConfigureAwait(false);
            }

            var parts = await Task.WhenAll(_parts).WaitAsync(cancellationToken).ConfigureAwait(false);
            var complete = new CompleteMultipartUploadRequest { BucketName = _repository.S3.Bucket, Key = _objectKey, UploadId = _uploadId, PartETags = [.. parts] };
            await _repository.SendAsync(_key, writing: true, ct => _repository.Client.CompleteMultipartUploadAsync(complete, ct), cancellationToken).ConfigureAwait(false);
            _objectWritten = true;
        }

        // A 200 is not proof: make sure the object S3 now holds has the length we streamed.
        var head = await _repository.SendAsync(_key, writing: false, ct => _repository.Client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _repository.S3.Bucket, Key = _objectKey }, ct), cancellationToken).ConfigureAwait(false);
        if (head.ContentLength != sizeBytes)
        {
            // AbortAsync (which every caller runs on failure) removes the wrong bytes from the final key.
            throw new RepositoryWriteFailedException($"{Location} holds {head.ContentLength} bytes after the upload, expected {sizeBytes}.", Location);
        }

        _finished = true;
        ReleaseBuffers();
    }

    public async Task AbortAsync()
    {
        if (_finished)
        {
            return;
        }

        _finished = true;
        await _abort.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_parts).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Cancelled or failed parts: the upload is being thrown away anyway.
        }

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

        ReleaseBuffers();
    }

    public async ValueTask DisposeAsync()
    {
        await AbortAsync().ConfigureAwait(false);
        _abort.Dispose();
        _bufferSlots.Dispose();
        _uploadSlots.Dispose();
    }

    private string Location => _repository.GetObjectLocation(_key);

    private async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        while (!data.IsEmpty)
        {
            if (_current is null)
            {
                _current = await RentBufferAsync(cancellationToken).ConfigureAwait(false);
                _filled = 0;
            }

            var count = Math.Min(data.Length, _partSize - _filled);
            data[..count].CopyTo(_current.AsMemory(_filled));
            _filled += count;
            _received += count;
            data = data[count..];
            if (_filled == _partSize)
            {
                await StartPartAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task StartPartAsync(CancellationToken cancellationToken)
    {
        if (_uploadId is null)
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

        var partNumber = _parts.Count + 1;
        if (partNumber > S3PartSizing.MaxParts)
        {
            throw new RepositoryWriteFailedException(
                $"The backup outgrew {S3PartSizing.MaxParts:N0} parts of {_partSize / S3PartSizing.MiB} MiB in {Location}: pass a larger -S3PartSizeMB.", Location);
        }

        var buffer = _current!;
        var length = _filled;
        _current = null;
        _filled = 0;
        _parts.Add(Task.Run(() => UploadPartAsync(partNumber, buffer, length), CancellationToken.None));
    }

    private async Task<PartETag> UploadPartAsync(int partNumber, byte[] buffer, int length)
    {
        var holdsUploadSlot = false;
        try
        {
            await _uploadSlots.WaitAsync(_abort.Token).ConfigureAwait(false);
            holdsUploadSlot = true;
            var md5 = S3Repository.ContentMd5(buffer.AsSpan(0, length));
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var response = await _repository.Client.UploadPartAsync(
                        new UploadPartRequest
                        {
                            BucketName = _repository.S3.Bucket,
                            Key = _objectKey,
                            UploadId = _uploadId,
                            PartNumber = partNumber,
                            InputStream = new MemoryStream(buffer, 0, length, writable: false),
                            PartSize = length,
                            MD5Digest = md5,
                            // Plain body: some S3-compatible servers store aws-chunked framing as data.
                            UseChunkEncoding = false,
                        },
                        _abort.Token).ConfigureAwait(false);
                    return new PartETag(partNumber, response.ETag);
                }
                catch (Exception ex) when (attempt < PartAttempts && !_abort.IsCancellationRequested && (S3Errors.IsTransient(ex) || ex is TaskCanceledException))
                {
                    // The SDK already retried; a part is worth a few more tries than a whole backup.
                    await Task.Delay(TimeSpan.FromMilliseconds(200 * (1 << attempt)), _abort.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            throw _repository.Translate(ex, _key, writing: true);
        }
        finally
        {
            if (holdsUploadSlot)
            {
                _uploadSlots.Release();
            }

            _freeBuffers.Add(buffer);
            _bufferSlots.Release();
        }
    }

    private async Task<byte[]> RentBufferAsync(CancellationToken cancellationToken)
    {
        await _bufferSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        var failed = _parts.FirstOrDefault(part => part.IsFaulted || part.IsCanceled);
        if (failed is not null)
        {
            _bufferSlots.Release();
            // Surfaces the part's typed error to the writer (and so to the backup).
            await failed.ConfigureAwait(false);
        }

        if (_freeBuffers.TryTake(out var buffer))
        {
            return buffer;
        }

        Interlocked.Increment(ref _buffersAllocated);
        return new byte[_partSize];
    }

    private void ReleaseBuffers()
    {
        _current = null;
        _freeBuffers.Clear();
    }

    /// <summary>The write-only face the backup pipeline sees.</summary>
    private sealed class PartStream(S3ArtifactUpload owner) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => owner._received;

        public override long Position
        {
            get => owner._received;
            set => throw new NotSupportedException();
        }

        public override void Write(byte[] buffer, int offset, int count) => owner.WriteAsync(buffer.AsMemory(offset, count), CancellationToken.None).AsTask().GetAwaiter().GetResult();

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => owner.WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => owner.WriteAsync(buffer, cancellationToken);

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
