using System.Diagnostics;
using System.Security.Cryptography;
using PgBackup.Streaming;

namespace PgBackup.Tests.Unit;

/// <summary>The concurrent backup stream: same bytes as a serial one, and a failure or Ctrl+C stops every stage before it returns.</summary>
public class DumpPipelineTests
{
    private static readonly Func<long, Exception, Exception> AsIs = (_, ex) => ex;

    private static byte[] SampleDump(int size)
    {
        // Compressible like a dump (repeated rows), with some noise.
        var data = new byte[size];
        var row = "INSERT 42\tCustomer 42\tc42@example.test\t2026-01-01\n"u8.ToArray();
        for (var i = 0; i < size; i++)
        {
            data[i] = (i % 97 == 0) ? (byte)(i * 31) : row[i % row.Length];
        }

        return data;
    }

    [Theory]
    [InlineData(BackupCompression.Zstd)]
    [InlineData(BackupCompression.Gzip)]
    [InlineData(BackupCompression.Lz4)]
    [InlineData(BackupCompression.None)]
    public async Task Stores_the_compressed_dump_with_the_hash_and_size_of_the_stored_bytes(BackupCompression compression)
    {
        var dump = SampleDump((5 * DumpPipeline.ChunkSize) + 12345);
        var sink = new MemoryStream();
        var reported = new List<long>();

        var (sha256, size) = await DumpPipeline.RunAsync(
            async (raw, token) =>
            {
                // Odd-sized writes, as a pipe delivers them.
                for (var offset = 0; offset < dump.Length; offset += 70001)
                {
                    await raw.WriteAsync(dump.AsMemory(offset, Math.Min(70001, dump.Length - offset)), token);
                }
            },
            sink, compression, null, reported.Add, AsIs, CancellationToken.None);

        var stored = sink.ToArray();
        Assert.Equal(stored.Length, size);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(stored)).ToLowerInvariant(), sha256);
        Assert.Equal(dump.Length, reported[^1]);
        using var decoded = new MemoryStream();
        await using (var decompress = CompressionStages.Decompress(new MemoryStream(stored), compression, leaveOpen: false))
        {
            await decompress.CopyToAsync(decoded);
        }

        Assert.Equal(dump, decoded.ToArray());
        if (compression != BackupCompression.None)
        {
            Assert.True(stored.Length < dump.Length / 2, $"{compression}: {stored.Length:N0} of {dump.Length:N0} bytes");
        }
    }

    [Fact]
    public async Task A_failing_sink_stops_the_producer_and_its_error_is_the_one_thrown()
    {
        var producerStopped = false;
        var sink = new FailingSink(failAfter: 3 * DumpPipeline.ChunkSize);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => DumpPipeline.RunAsync(
            async (raw, token) =>
            {
                try
                {
                    await WriteForeverAsync(raw, token);
                }
                finally
                {
                    producerStopped = true;
                }
            },
            sink, BackupCompression.None, null, null, (written, ex) => new InvalidOperationException($"store failed after {written}", ex), CancellationToken.None));

        Assert.IsType<IOException>(error.InnerException);
        Assert.True(producerStopped, "the producer was still running when the pipeline returned");
    }

    [Fact]
    public async Task A_failing_producer_fails_the_run_with_its_own_error()
    {
        var error = await Assert.ThrowsAsync<FormatException>(() => DumpPipeline.RunAsync(
            async (raw, token) =>
            {
                await raw.WriteAsync(SampleDump(3 * DumpPipeline.ChunkSize), token);
                throw new FormatException("pg_dump broke");
            },
            new MemoryStream(), BackupCompression.Zstd, null, null, AsIs, CancellationToken.None));

        Assert.Equal("pg_dump broke", error.Message);
    }

    [Fact]
    public async Task Cancelling_stops_every_stage_promptly()
    {
        using var cancellation = new CancellationTokenSource();
        var producerStopped = false;
        var sink = new SlowSink();
        var run = DumpPipeline.RunAsync(
            async (raw, token) =>
            {
                try
                {
                    await WriteForeverAsync(raw, token);
                }
                finally
                {
                    producerStopped = true;
                }
            },
            sink, BackupCompression.Zstd, null, null, AsIs, cancellation.Token);
        await sink.FirstWrite.Task.WaitAsync(TimeSpan.FromSeconds(30));

        var stopwatch = Stopwatch.StartNew();
        await cancellation.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"took {stopwatch.Elapsed}");
        Assert.True(producerStopped);
    }

    private static async Task WriteForeverAsync(Stream raw, CancellationToken token)
    {
        var block = SampleDump(256 * 1024);
        while (true)
        {
            await raw.WriteAsync(block, token);
        }
    }

    private sealed class FailingSink(long failAfter) : MemoryStream
    {
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
            => Length + buffer.Length > failAfter ? throw new IOException("No space left on device") : base.WriteAsync(buffer, cancellationToken);
    }

    /// <summary>A store slower than the producer, so every channel fills up and the producer waits.</summary>
    private sealed class SlowSink : MemoryStream
    {
        public TaskCompletionSource FirstWrite { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            FirstWrite.TrySetResult();
            await Task.Delay(50, cancellationToken);
            await base.WriteAsync(buffer, cancellationToken);
        }
    }
}
