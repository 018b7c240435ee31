using System.Diagnostics;
using System.Security.Cryptography;
using PgBackup.Streaming;
using ZstdSharp;

namespace PgBackup.Tests.Unit;

/// <summary>
/// The zstd stage on the system's libzstd: standard frames both ways (ZstdSharp and the zstd command read them,
/// and it reads theirs), a corrupt (frames carry their content's checksum, as the zstd command writes them) or truncated stream is a decoding error, memory does not grow with the data,
/// and without the library the stage is ZstdSharp's.
/// </summary>
public class NativeZstdTests
{
    private static NativeZstd Native => NativeZstd.System ?? throw new InvalidOperationException("libzstd is not installed (.ci/run installs zstd, which depends on libzstd1).");

    private static byte[] SampleDump(int size)
    {
        // Compressible like a dump (repeated rows), with noise that keeps zstd busy.
        var data = new byte[size];
        var row = "INSERT 42\tCustomer 42\tc42@example.test\t2026-01-01\n"u8.ToArray();
        var random = new Random(7);
        for (var i = 0; i < size; i++)
        {
            data[i] = (i % 7 == 0) ? (byte)random.Next(256) : row[i % row.Length];
        }

        return data;
    }

    private static async Task<byte[]> CompressAsync(byte[] data, Func<Stream, Stream> compressor)
    {
        using var stored = new MemoryStream();
        await using (var compressing = compressor(stored))
        {
            // Uneven writes, as the pipeline's chunks and pg_dump's reads are.
            for (var offset = 0; offset < data.Length;)
            {
                var take = Math.Min(data.Length - offset, 300_001);
                await compressing.WriteAsync(data.AsMemory(offset, take));
                offset += take;
            }
        }

        return stored.ToArray();
    }

    private static async Task<byte[]> DecompressAsync(byte[] stored, Func<Stream, Stream> decompressor)
    {
        await using var decompressing = decompressor(new MemoryStream(stored));
        using var restored = new MemoryStream();
        await decompressing.CopyToAsync(restored);
        return restored.ToArray();
    }

    [Fact]
    public void The_system_library_is_found_and_the_default_zstd_stage_uses_it()
    {
        Assert.NotNull(NativeZstd.System);
        using var compressor = CompressionStages.Compress(new MemoryStream(), BackupCompression.Zstd, null, leaveOpen: false);
        using var decompressor = CompressionStages.Decompress(new MemoryStream(), BackupCompression.Zstd, leaveOpen: false);
        Assert.IsType<NativeZstd.CompressingStream>(compressor);
        Assert.IsType<NativeZstd.DecompressingStream>(decompressor);
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(1, 2)]
    [InlineData(19, 2)]
    public async Task Native_frames_are_read_by_ZstdSharp_and_the_other_way_round(int level, int workers)
    {
        var data = SampleDump(5_000_000);

        var native = await CompressAsync(data, s => Native.Compress(s, level, workers, leaveOpen: true));
        Assert.True(native.Length < data.Length / 2);
        Assert.Equal(data, await DecompressAsync(native, s => new DecompressionStream(s)));
        Assert.Equal(data, await DecompressAsync(native, s => Native.Decompress(s, leaveOpen: false)));

        var managed = await CompressAsync(data, s => new CompressionStream(s, level, leaveOpen: true));
        Assert.Equal(data, await DecompressAsync(managed, s => Native.Decompress(s, leaveOpen: false)));
    }

    [Fact]
    public async Task The_zstd_command_tests_and_decodes_what_the_native_stage_wrote()
    {
        var data = SampleDump(3_000_000);
        var stored = await CompressAsync(data, s => CompressionStages.Compress(s, BackupCompression.Zstd, null, leaveOpen: true));
        var path = Path.GetTempFileName();
        try
        {
            await File.WriteAllBytesAsync(path, stored);
            var test = await RunAsync("zstd", "-q", "-t", path);
            Assert.Equal(0, test.ExitCode);
            var decoded = await RunAsync("zstd", "-q", "-d", "-c", path);
            Assert.Equal(0, decoded.ExitCode);
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(decoded.Output));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Concatenated_frames_decode_to_the_end_and_a_truncated_or_flipped_stream_is_a_decoding_error()
    {
        var first = SampleDump(1_000_000);
        var second = SampleDump(700_000);
        var stored = (await CompressAsync(first, s => Native.Compress(s, 1, 2, leaveOpen: true)))
            .Concat(await CompressAsync(second, s => Native.Compress(s, 1, 0, leaveOpen: true))).ToArray();
        Assert.Equal(first.Concat(second), await DecompressAsync(stored, s => Native.Decompress(s, leaveOpen: false)));

        var truncated = stored[..(stored.Length - 10)];
        var ex = await Assert.ThrowsAsync<InvalidDataException>(() => DecompressAsync(truncated, s => Native.Decompress(s, leaveOpen: false)));
        Assert.Contains("truncated", ex.Message, StringComparison.Ordinal);

        var flipped = stored.ToArray();
        flipped[stored.Length / 3] ^= 0x5a;
        await Assert.ThrowsAsync<InvalidDataException>(() => DecompressAsync(flipped, s => Native.Decompress(s, leaveOpen: false)));
    }

    [Fact]
    public void Synchronous_writes_and_reads_round_trip()
    {
        var data = SampleDump(2_000_000);
        using var stored = new MemoryStream();
        using (var compressing = Native.Compress(stored, 3, 2, leaveOpen: true))
        {
            compressing.Write(data, 0, 123);
            compressing.Write(data.AsSpan(123));
        }

        stored.Position = 0;
        using var decompressing = Native.Decompress(stored, leaveOpen: true);
        var restored = new byte[data.Length];
        var filled = 0;
        int read;
        // Small reads: zstd keeps decoded bytes it could not hand out for the next call.
        while ((read = decompressing.Read(restored, filled, Math.Min(4096, restored.Length - filled))) > 0)
        {
            filled += read;
        }

        Assert.Equal(data.Length, filled);
        Assert.Equal(data, restored);
        Assert.Equal(0, decompressing.Read(new byte[10], 0, 10));
    }

    /// <summary>256 MB through the multi-threaded compressor and back: the contexts hold about as much after 256 MB as after 64 MB, a few MB.</summary>
    [Fact]
    public async Task Memory_held_by_the_native_contexts_does_not_grow_with_the_stream()
    {
        const long Size = 256L * 1024 * 1024;
        const long Checkpoint = 64L * 1024 * 1024;
        const long MaximumContextBytes = 64L * 1024 * 1024;
        var piece = SampleDump(1 << 20);
        var pipe = new System.IO.Pipelines.Pipe(new System.IO.Pipelines.PipeOptions(pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20));
        long decoded = 0;
        long compressAtCheckpoint = 0, compressAtEnd = 0, decompressAtCheckpoint = 0, decompressAtEnd = 0;

        var writer = Task.Run(async () =>
        {
            await using var compressing = (NativeZstd.CompressingStream)Native.Compress(pipe.Writer.AsStream(), 1, 2, leaveOpen: false);
            for (long written = 0; written < Size; written += piece.Length)
            {
                await compressing.WriteAsync(piece);
                if (written == Checkpoint)
                {
                    compressAtCheckpoint = compressing.ContextBytes;
                }
            }

            compressAtEnd = compressing.ContextBytes;
        });
        var reader = Task.Run(async () =>
        {
            await using var decompressing = (NativeZstd.DecompressingStream)Native.Decompress(pipe.Reader.AsStream(), leaveOpen: false);
            var buffer = new byte[1 << 20];
            int read;
            while ((read = await decompressing.ReadAsync(buffer)) > 0)
            {
                if (decoded < Checkpoint && decoded + read >= Checkpoint)
                {
                    decompressAtCheckpoint = decompressing.ContextBytes;
                }

                decoded += read;
            }

            decompressAtEnd = decompressing.ContextBytes;
        });
        await Task.WhenAll(writer, reader);

        Assert.Equal(Size, decoded);
        Assert.InRange(compressAtCheckpoint, 1, MaximumContextBytes);
        Assert.InRange(compressAtEnd, 1, compressAtCheckpoint + (4 << 20));
        Assert.InRange(decompressAtCheckpoint, 1, MaximumContextBytes);
        Assert.InRange(decompressAtEnd, 1, decompressAtCheckpoint + (4 << 20));
    }

    [Fact]
    public async Task Without_the_library_the_zstd_stage_falls_back_to_ZstdSharp()
    {
        Assert.Null(NativeZstd.TryLoad(["libzstd-not-installed.so.9"]));
        var data = SampleDump(2_000_000);

        var stored = await CompressAsync(data, s => CompressionStages.ZstdCompressor(s, null, leaveOpen: true, native: null));
        Assert.Equal(data, await DecompressAsync(stored, s => Native.Decompress(s, leaveOpen: false)));

        await using var fallback = CompressionStages.ZstdDecompressor(new MemoryStream(stored), leaveOpen: false, native: null);
        Assert.IsType<DecompressionStream>(fallback);
        using var restored = new MemoryStream();
        await fallback.CopyToAsync(restored);
        Assert.Equal(data, restored.ToArray());
        await using var compressor = CompressionStages.ZstdCompressor(new MemoryStream(), null, leaveOpen: false, native: null);
        Assert.IsType<CompressionStream>(compressor);
    }

    private static async Task<(int ExitCode, byte[] Output)> RunAsync(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        using var output = new MemoryStream();
        await process.StandardOutput.BaseStream.CopyToAsync(output);
        await process.WaitForExitAsync();
        return (process.ExitCode, output.ToArray());
    }
}
