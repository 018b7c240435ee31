using System.Buffers;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;

namespace PgBackup.Streaming;

/// <summary>
/// A write stage of the backup stream: wraps the stream it is given (which it must leave open) so that bytes
/// written into it come out transformed (compressed, encrypted); disposing it writes its last bytes.
/// </summary>
internal delegate Stream StreamTransform(Stream output);

/// <summary>
/// The backup stream as concurrent stages: the producer (pg_dump's stdout, or the tar of a directory dump)
/// → each transform in order (compression, then encryption) → SHA-256 and the repository's sink. Each hand-over
/// is a bounded channel of pooled 1 MiB chunks, so memory stays flat whatever the dump's size, and the slowest
/// stage sets the pace instead of the sum of all. The first stage to fail stops the others (their waits are
/// cancelled), and every stage has finished before <see cref="RunAsync(Func{Stream, CancellationToken, Task}, Stream, IReadOnlyList{StreamTransform}, Action{long}?, Func{long, Exception, Exception}, CancellationToken)"/>
/// returns or throws: no thread outlives the backup.
/// </summary>
internal static class DumpPipeline
{
    public const int ChunkSize = 1 << 20;

    /// <summary>Chunks in flight between two stages: enough to ride out bursts, small enough to keep memory flat.</summary>
    public const int ChannelCapacity = 4;

    /// <summary>PgBackup's compression stage as a transform (<see cref="BackupCompression.None"/> passes bytes through).</summary>
    public static StreamTransform Compression(BackupCompression compression, int? level)
        => output => CompressionStages.Compress(output, compression, level, leaveOpen: true);

    /// <summary>The pipeline with one compression stage.</summary>
    public static Task<(string Sha256, long Size)> RunAsync(
        Func<Stream, CancellationToken, Task> produce,
        Stream sink,
        BackupCompression compression,
        int? level,
        Action<long>? rawChunk,
        Func<long, Exception, Exception> sinkFailure,
        CancellationToken cancellationToken)
        => RunAsync(produce, sink, [Compression(compression, level)], rawChunk, sinkFailure, cancellationToken);

    /// <param name="produce">Writes the raw dump into the stream it is given; must honour the token it is given.</param>
    /// <param name="transforms">The stages between producer and hash, in order; each runs on its own.</param>
    /// <param name="rawChunk">Called with the running count of raw bytes after each chunk leaves the producer.</param>
    /// <param name="sinkFailure">Turns a failed write into the sink (with the bytes stored so far) into the error to throw.</param>
    public static async Task<(string Sha256, long Size)> RunAsync(
        Func<Stream, CancellationToken, Task> produce,
        Stream sink,
        IReadOnlyList<StreamTransform> transforms,
        Action<long>? rawChunk,
        Func<long, Exception, Exception> sinkFailure,
        CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var channels = Enumerable.Range(0, transforms.Count + 1).Select(_ => NewChannel()).ToArray();
        var hashing = new HashingStream(sink, leaveOpen: true);
        var token = stop.Token;

        var stages = new List<Task>
        {
            Stage(channels[0].Writer, stop, async () =>
            {
                await using var rawStream = new ChunkChannelStream(channels[0].Writer, rawChunk, token);
                await produce(rawStream, token).ConfigureAwait(false);
                await rawStream.FlushAsync(token).ConfigureAwait(false);
            }),
        };
        for (var i = 0; i < transforms.Count; i++)
        {
            var (input, output, transform) = (channels[i].Reader, channels[i + 1].Writer, transforms[i]);
            stages.Add(Stage(output, stop, () => TransformAsync(input, output, transform, token)));
        }

        var last = channels[^1].Reader;
        stages.Add(Stage(null, stop, async () =>
        {
            await foreach (var chunk in last.ReadAllAsync(token).ConfigureAwait(false))
            {
                try
                {
                    await hashing.WriteAsync(chunk.Memory, token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    throw sinkFailure(hashing.BytesWritten, ex);
                }
                finally
                {
                    chunk.Return();
                }
            }

            try
            {
                // What the store still buffers.
                await hashing.FlushAsync(token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw sinkFailure(hashing.BytesWritten, ex);
            }
        }));

        try
        {
            await Task.WhenAll(stages).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // The stage that failed first reports; the others were only stopped by it.
            var cause = stages.Where(t => t.IsFaulted).SelectMany(t => t.Exception!.InnerExceptions).FirstOrDefault(e => e is not OperationCanceledException);
            if (cause is not null)
            {
                ExceptionDispatchInfo.Throw(cause);
            }

            cancellationToken.ThrowIfCancellationRequested();
            throw;
        }

        return (hashing.GetHashHex(), hashing.BytesWritten);
    }

    /// <summary>One transform stage: chunks in, through the transform, chunks out; its last bytes on a clean end only.</summary>
    private static async Task TransformAsync(ChannelReader<Chunk> input, ChannelWriter<Chunk> output, StreamTransform transform, CancellationToken token)
    {
        await using var outputStream = new ChunkChannelStream(output, null, token);
        var transformer = transform(outputStream);
        var finished = false;
        try
        {
            await foreach (var chunk in input.ReadAllAsync(token).ConfigureAwait(false))
            {
                try
                {
                    await transformer.WriteAsync(chunk.Memory, token).ConfigureAwait(false);
                }
                finally
                {
                    chunk.Return();
                }
            }

            // The transform's last bytes (compressor's final frame, encryption's integrity trailer), then the last partial chunk.
            await transformer.DisposeAsync().ConfigureAwait(false);
            finished = true;
            await outputStream.FlushAsync(token).ConfigureAwait(false);
        }
        finally
        {
            if (!finished)
            {
                // Frees the transform (and joins zstd's worker threads); its last bytes have nowhere to go.
                await DisposeAbandonedAsync(transformer).ConfigureAwait(false);
            }
        }
    }

    private static Channel<Chunk> NewChannel() => Channel.CreateBounded<Chunk>(new BoundedChannelOptions(ChannelCapacity)
    {
        SingleReader = true,
        SingleWriter = true,
        FullMode = BoundedChannelFullMode.Wait,
    });

    /// <summary>Runs a stage on the thread pool; when it ends, its output ends, and when it fails, every stage stops.</summary>
    private static Task Stage(ChannelWriter<Chunk>? output, CancellationTokenSource stop, Func<Task> body) => Task.Run(async () =>
    {
        try
        {
            await body().ConfigureAwait(false);
        }
        catch
        {
            await stop.CancelAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            output?.TryComplete();
        }
    });

    private static async Task DisposeAbandonedAsync(Stream transform)
    {
        try
        {
            await transform.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ChannelClosedException or ObjectDisposedException)
        {
            // The pipeline is already failing for a better reason.
        }
    }

    /// <summary>A pooled buffer and how much of it holds data; the reader returns it to the pool.</summary>
    internal readonly record struct Chunk(byte[] Buffer, int Length)
    {
        public ReadOnlyMemory<byte> Memory => Buffer.AsMemory(0, Length);

        public void Return() => ArrayPool<byte>.Shared.Return(Buffer);
    }

    /// <summary>A write-only stream that cuts what it is given into chunks and posts them to a bounded channel (waiting while it is full).</summary>
    private sealed class ChunkChannelStream(ChannelWriter<Chunk> writer, Action<long>? posted, CancellationToken token) : ForwardOnlyWriteStream
    {
        private byte[]? _buffer;
        private int _filled;
        private long _total;

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (!buffer.IsEmpty)
            {
                _buffer ??= ArrayPool<byte>.Shared.Rent(ChunkSize);
                var take = Math.Min(buffer.Length, ChunkSize - _filled);
                buffer[..take].CopyTo(_buffer.AsMemory(_filled));
                _filled += take;
                buffer = buffer[take..];
                if (_filled == ChunkSize)
                {
                    await PostAsync().ConfigureAwait(false);
                }
            }
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        // Some compressors write synchronously from Dispose/Flush; the wait is bounded by the channel and the token.
        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count), token).AsTask().GetAwaiter().GetResult();

        public override async Task FlushAsync(CancellationToken cancellationToken)
        {
            if (_filled > 0)
            {
                await PostAsync().ConfigureAwait(false);
            }
        }

        // A synchronous flush has nothing to do: chunks go out when full, and the pipeline flushes the last one.
        public override void Flush()
        {
        }

        public override ValueTask DisposeAsync()
        {
            // Unposted bytes of a failed run go back to the pool; a finished run flushed them already.
            if (_buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = null;
            }

            return ValueTask.CompletedTask;
        }

        private async Task PostAsync()
        {
            var chunk = new Chunk(_buffer!, _filled);
            _buffer = null;
            _filled = 0;
            try
            {
                await writer.WriteAsync(chunk, token).ConfigureAwait(false);
            }
            catch
            {
                chunk.Return();
                throw;
            }

            _total += chunk.Length;
            posted?.Invoke(_total);
        }
    }
}
