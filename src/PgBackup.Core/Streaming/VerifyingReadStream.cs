using System.Security.Cryptography;
using PgBackup.Errors;

namespace PgBackup.Streaming;

/// <summary>
/// Read-through stage that hashes what it passes on and, at the end of the stream, checks size
/// and SHA-256 against the manifest. A mismatch surfaces as <see cref="BackupCorruptException"/>
/// from the read that reaches the end (or the one that goes past the expected size), so a
/// consumer can never see a clean end of a corrupt or truncated backup.
/// </summary>
internal sealed class VerifyingReadStream : ForwardOnlyReadStream
{
    private readonly Stream _inner;
    private readonly string? _expectedSha256;
    private readonly long? _expectedSize;
    private readonly string _source;
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private bool _verified;

    public VerifyingReadStream(Stream inner, string? expectedSha256, long? expectedSize, string source)
    {
        _inner = inner;
        _expectedSha256 = expectedSha256?.ToLowerInvariant();
        _expectedSize = expectedSize;
        _source = source;
    }

    public long BytesRead { get; private set; }

    /// <summary>The SHA-256 of everything read, once the end was reached.</summary>
    public string? ActualSha256 { get; private set; }

    public override long Length => _expectedSize ?? throw new NotSupportedException();

    public override long Position => BytesRead;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var read = _inner.Read(buffer);
        return Account(buffer[..read]);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var read = await _inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        return Account(buffer.Span[..read]);
    }

    /// <summary>Reads to the end, discarding the bytes: a pure checksum pass.</summary>
    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            while (await ReadAsync(buffer.AsMemory(0, 1 << 20), cancellationToken).ConfigureAwait(false) > 0)
            {
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private int Account(ReadOnlySpan<byte> data)
    {
        if (data.Length > 0)
        {
            _hash.AppendData(data);
            BytesRead += data.Length;
            if (_expectedSize is { } size && BytesRead > size)
            {
                throw new BackupCorruptException($"{_source} is larger than its manifest says ({size:N0} bytes): the stored file was changed.", _source);
            }

            return data.Length;
        }

        if (!_verified)
        {
            _verified = true;
            ActualSha256 = Convert.ToHexString(_hash.GetHashAndReset()).ToLowerInvariant();
            if (_expectedSize is { } size && BytesRead != size)
            {
                throw new BackupCorruptException($"{_source} is truncated: {BytesRead:N0} bytes stored, the manifest says {size:N0}.", _source);
            }

            if (_expectedSha256 is not null && ActualSha256 != _expectedSha256)
            {
                throw new BackupCorruptException($"{_source} is corrupt: its SHA-256 is {ActualSha256}, the manifest says {_expectedSha256}.", _source);
            }
        }

        return 0;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _hash.Dispose();
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        _hash.Dispose();
        await _inner.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
