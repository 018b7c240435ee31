using System.Collections.Concurrent;
using PgBackup.Errors;
using PgBackup.Streaming;

namespace PgBackup.Storage;

/// <summary>
/// The streaming half of an object-store upload (S3 multipart parts, Azure staged blocks): bytes
/// written to <see cref="Content"/> fill a part buffer, and each full buffer is uploaded in the
/// background while the next one fills. At most (parts in flight + 1) buffers ever exist: when all
/// are busy the writer waits, which holds pg_dump back through its pipe, so memory stays bounded
/// whatever the database size. No temporary file.
/// <para>
/// The store says how to send one part (<c>uploadPart</c>, which gets its own cancellation token
/// that <see cref="CancelAsync"/> fires) and what to do before the first one (<c>beforeFirstPart</c>,
/// e.g. CreateMultipartUpload). A backup that fits in the first buffer never starts a part: the
/// store sends <see cref="PendingBytes"/> in one request at commit instead.
/// </para>
/// </summary>
/// <typeparam name="TPart">What the store needs to commit a part (an S3 part ETag, an Azure block id).</typeparam>
internal sealed class ParallelPartWriter<TPart> : IAsyncDisposable
{
    /// <summary>The store's SDK already retried; a part is worth a few more tries than a whole backup.</summary>
    private const int PartAttempts = 4;

    private readonly Func<int, ReadOnlyMemory<byte>, CancellationToken, Task<TPart>> _uploadPart;
    private readonly Func<CancellationToken, Task> _beforeFirstPart;
    private readonly Func<Exception, bool> _isTransient;
    private readonly Func<Exception, PgBackupException> _translate;
    private readonly Func<int, PgBackupException> _tooManyParts;
    private readonly Action<ReadOnlyMemory<byte>>? _observeWrite;
    private readonly int _maxParts;
    private readonly SemaphoreSlim _bufferSlots;
    private readonly SemaphoreSlim _uploadSlots;
    private readonly ConcurrentBag<byte[]> _freeBuffers = [];
    private readonly List<Task<TPart>> _parts = [];
    private readonly CancellationTokenSource _cancel = new();
    private readonly WriteOnlyStream _content;

    private byte[]? _current;
    private int _filled;
    private long _received;
    private int _buffersAllocated;
    private bool _closed;

    /// <param name="partSize">Bytes per part (the last one may be shorter).</param>
    /// <param name="maxPartsInFlight">Parts uploading at once; memory is at most (this + 1) × part size.</param>
    /// <param name="maxParts">The store's limit; one more part is <paramref name="tooManyParts"/>(part number).</param>
    /// <param name="uploadPart">Sends part n (1-based) and returns what the commit needs; retried while <paramref name="isTransient"/>.</param>
    /// <param name="beforeFirstPart">Runs once, on the writer's path, before part 1 is sent.</param>
    /// <param name="translate">Turns a part's final failure into a typed error.</param>
    /// <param name="observeWrite">Sees every byte written, in order, on the writer's thread (e.g. to hash the whole object).</param>
    public ParallelPartWriter(
        int partSize,
        int maxPartsInFlight,
        int maxParts,
        Func<int, ReadOnlyMemory<byte>, CancellationToken, Task<TPart>> uploadPart,
        Func<CancellationToken, Task> beforeFirstPart,
        Func<Exception, bool> isTransient,
        Func<Exception, PgBackupException> translate,
        Func<int, PgBackupException> tooManyParts,
        Action<ReadOnlyMemory<byte>>? observeWrite = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(partSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPartsInFlight, 1);
        PartSize = partSize;
        _maxParts = maxParts;
        _uploadPart = uploadPart;
        _beforeFirstPart = beforeFirstPart;
        _isTransient = isTransient;
        _translate = translate;
        _tooManyParts = tooManyParts;
        _observeWrite = observeWrite;
        // One buffer fills while the others upload (or wait for an upload slot).
        _bufferSlots = new SemaphoreSlim(maxPartsInFlight + 1);
        _uploadSlots = new SemaphoreSlim(maxPartsInFlight);
        _content = new WriteOnlyStream(this);
    }

    /// <summary>The write-only stream the backup pipeline writes into.</summary>
    public Stream Content => _content;

    public int PartSize { get; }

    /// <summary>Bytes written so far.</summary>
    public long Received => _received;

    /// <summary>Whether any part was sent (false: everything is still in <see cref="PendingBytes"/>).</summary>
    public bool StartedParts => _parts.Count > 0;

    /// <summary>The bytes not yet handed to a part: everything, while <see cref="StartedParts"/> is false.</summary>
    public ReadOnlyMemory<byte> PendingBytes => _current.AsMemory(0, _filled);

    /// <summary>Part buffers allocated so far: never more than parts in flight + 1.</summary>
    public int BuffersAllocated => Volatile.Read(ref _buffersAllocated);

    /// <summary>Sends the last, partial part (if any) and waits for every part; returns them in part order.</summary>
    public async Task<TPart[]> FinishPartsAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        if (_filled > 0)
        {
            await StartPartAsync(cancellationToken).ConfigureAwait(false);
        }

        return await Task.WhenAll(_parts).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops accepting bytes, cancels the parts in flight and waits for them to stop. Safe to call more than once.</summary>
    public async Task CancelAsync()
    {
        if (_closed)
        {
            return;
        }

        _closed = true;
        await _cancel.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_parts).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Cancelled or failed parts: the upload is being thrown away anyway.
        }

        ReleaseBuffers();
    }

    /// <summary>No more bytes will come (the upload committed): frees the buffers.</summary>
    public void Complete()
    {
        _closed = true;
        ReleaseBuffers();
    }

    public async ValueTask DisposeAsync()
    {
        await CancelAsync().ConfigureAwait(false);
        _cancel.Dispose();
        _bufferSlots.Dispose();
        _uploadSlots.Dispose();
    }

    private async ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        _observeWrite?.Invoke(data);
        while (!data.IsEmpty)
        {
            if (_current is null)
            {
                _current = await RentBufferAsync(cancellationToken).ConfigureAwait(false);
                _filled = 0;
            }

            var count = Math.Min(data.Length, PartSize - _filled);
            data[..count].CopyTo(_current.AsMemory(_filled));
            _filled += count;
            _received += count;
            data = data[count..];
            if (_filled == PartSize)
            {
                await StartPartAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task StartPartAsync(CancellationToken cancellationToken)
    {
        if (_parts.Count == 0)
        {
            await _beforeFirstPart(cancellationToken).ConfigureAwait(false);
        }

        var partNumber = _parts.Count + 1;
        if (partNumber > _maxParts)
        {
            throw _tooManyParts(partNumber);
        }

        var buffer = _current!;
        var length = _filled;
        _current = null;
        _filled = 0;
        _parts.Add(Task.Run(() => UploadPartAsync(partNumber, buffer, length), CancellationToken.None));
    }

    private async Task<TPart> UploadPartAsync(int partNumber, byte[] buffer, int length)
    {
        var holdsUploadSlot = false;
        try
        {
            await _uploadSlots.WaitAsync(_cancel.Token).ConfigureAwait(false);
            holdsUploadSlot = true;
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    return await _uploadPart(partNumber, buffer.AsMemory(0, length), _cancel.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (attempt < PartAttempts && !_cancel.IsCancellationRequested && (_isTransient(ex) || ex is TaskCanceledException))
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(200 * (1 << attempt)), _cancel.Token).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (_cancel.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            throw _translate(ex);
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
        return new byte[PartSize];
    }

    private void ReleaseBuffers()
    {
        _current = null;
        _filled = 0;
        _freeBuffers.Clear();
    }

    private sealed class WriteOnlyStream(ParallelPartWriter<TPart> owner) : ForwardOnlyWriteStream
    {
        public override long Length => owner._received;

        public override long Position => owner._received;

        public override void Write(byte[] buffer, int offset, int count) => owner.WriteAsync(buffer.AsMemory(offset, count), CancellationToken.None).AsTask().GetAwaiter().GetResult();

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => owner.WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => owner.WriteAsync(buffer, cancellationToken);

        public override void Flush()
        {
        }

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
