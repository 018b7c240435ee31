using System.IO.Compression;
using K4os.Compression.LZ4;
using K4os.Compression.LZ4.Streams;
using ZstdSharp;
using ZstdSharp.Unsafe;

namespace PgBackup.Streaming;

/// <summary>
/// The compression stage of the stream pipeline, for output pg_dump does not compress itself
/// (plain and tar formats, or methods the installed pg_dump does not know). One place decides
/// the file extension, the compressor and the matching decompressor.
/// </summary>
internal static class CompressionStages
{
    public static string? FileExtension(BackupCompression compression) => compression switch
    {
        BackupCompression.Gzip => ".gz",
        BackupCompression.Zstd => ".zst",
        BackupCompression.Lz4 => ".lz4",
        _ => null,
    };

    /// <summary>Wraps <paramref name="sink"/> so that bytes written are compressed on their way in.</summary>
    public static Stream Compress(Stream sink, BackupCompression compression, int? level, bool leaveOpen)
    {
        return compression switch
        {
            BackupCompression.None => leaveOpen ? new NonClosingStream(sink) : sink,
            BackupCompression.Gzip => new GZipStream(sink, GzipLevel(level), leaveOpen),
            BackupCompression.Zstd => ZstdCompressor(sink, level, leaveOpen, NativeZstd.System),
            BackupCompression.Lz4 => LZ4Stream.Encode(sink, Lz4Level(level), leaveOpen: leaveOpen),
            _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, null),
        };
    }

    /// <summary>Wraps <paramref name="source"/> so that reads return the decompressed bytes.</summary>
    public static Stream Decompress(Stream source, BackupCompression compression, bool leaveOpen)
    {
        return compression switch
        {
            BackupCompression.None => leaveOpen ? new NonClosingStream(source) : source,
            BackupCompression.Gzip => new GZipStream(source, CompressionMode.Decompress, leaveOpen),
            BackupCompression.Zstd => ZstdDecompressor(source, leaveOpen, NativeZstd.System),
            BackupCompression.Lz4 => LZ4Stream.Decode(source, leaveOpen: leaveOpen),
            _ => throw new ArgumentOutOfRangeException(nameof(compression), compression, null),
        };
    }

    /// <summary>
    /// zstd in its multi-threaded mode, one worker per core: compression then runs beside the thread that feeds it
    /// (pg_dump -Fc -Z0 | zstd -1 -T2 is the expert's pipeline this matches). The system's libzstd when there is one
    /// (<see cref="NativeZstd"/>), else ZstdSharp; the frames are standard zstd either way.
    /// </summary>
    internal static Stream ZstdCompressor(Stream sink, int? level, bool leaveOpen, NativeZstd? native)
    {
        var effectiveLevel = level ?? Backup.CompressionPlan.DefaultZstdLevel;
        if (native is not null)
        {
            return native.Compress(sink, effectiveLevel, Environment.ProcessorCount, leaveOpen);
        }

        var stream = new CompressionStream(sink, effectiveLevel, leaveOpen: leaveOpen);
        stream.SetParameter(ZSTD_cParameter.ZSTD_c_nbWorkers, Environment.ProcessorCount);
        return stream;
    }

    /// <summary>The system's libzstd when there is one, else ZstdSharp (as for compression).</summary>
    internal static Stream ZstdDecompressor(Stream source, bool leaveOpen, NativeZstd? native)
        => native is not null ? native.Decompress(source, leaveOpen) : new DecompressionStream(source, leaveOpen: leaveOpen);

    private static CompressionLevel GzipLevel(int? level) => level switch
    {
        null => CompressionLevel.Optimal,
        0 => CompressionLevel.NoCompression,
        <= 3 => CompressionLevel.Fastest,
        >= 9 => CompressionLevel.SmallestSize,
        _ => CompressionLevel.Optimal,
    };

    private static LZ4Level Lz4Level(int? level) => level switch
    {
        null or <= 2 => LZ4Level.L00_FAST,
        <= 9 => LZ4Level.L09_HC,
        _ => LZ4Level.L12_MAX,
    };
}

/// <summary>Passes everything through but ignores Dispose, so a stage can be closed without closing its sink.</summary>
internal sealed class NonClosingStream(Stream inner) : Stream
{
    public override bool CanRead => inner.CanRead;

    public override bool CanSeek => false;

    public override bool CanWrite => inner.CanWrite;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override void Flush() => inner.Flush();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
