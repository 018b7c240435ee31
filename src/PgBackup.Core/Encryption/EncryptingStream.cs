using Org.BouncyCastle.Bcpg.OpenPgp;
using PgBackup.Streaming;

namespace PgBackup.Encryption;

/// <summary>
/// Write-only stage: plaintext in, OpenPGP message out (see <see cref="OpenPgpEncryption"/>). BouncyCastle encrypts
/// synchronously into a small in-memory buffer, which is then written to the destination (WriteAsync in async code),
/// one 64 KiB piece of plaintext at a time: memory stays bounded by a few buffers whatever the artifact's size, and
/// the destination only sees asynchronous writes from asynchronous callers.
/// </summary>
internal sealed class EncryptingStream : ForwardOnlyWriteStream
{
    /// <summary>The partial-length packet size and the piece of plaintext encrypted per step (a power of two, as OpenPGP requires).</summary>
    internal const int ChunkSize = 64 * 1024;

    private readonly Stream _destination;
    private readonly bool _leaveOpen;
    private readonly MemoryStream _ciphertext = new(2 * ChunkSize + 4096);
    private readonly Stream _encrypted;
    private readonly PgpLiteralDataGenerator _literalGenerator = new();
    private readonly Stream _literal;
    private long _plaintextBytes;
    private bool _failed;
    private bool _disposed;

    internal EncryptingStream(PgpEncryptedDataGenerator generator, Stream destination, bool leaveOpen)
        : this(ciphertext => generator.Open(ciphertext, new byte[ChunkSize]), destination, leaveOpen)
    {
    }

    /// <param name="openEncrypted">Writes the message's head into the stream it is given and returns the stream the inner packets go to.</param>
    internal EncryptingStream(Func<Stream, Stream> openEncrypted, Stream destination, bool leaveOpen)
    {
        _destination = destination;
        _leaveOpen = leaveOpen;
        _encrypted = openEncrypted(_ciphertext);
        // No file name and the epoch as date: the message says nothing about where or when beyond what the manifest says.
        _literal = _literalGenerator.Open(_encrypted, PgpLiteralData.Binary, string.Empty, DateTime.UnixEpoch, new byte[ChunkSize]);
    }

    public override bool CanWrite => !_disposed;

    /// <summary>Plaintext bytes written so far.</summary>
    public override long Position => _plaintextBytes;

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        try
        {
            while (!buffer.IsEmpty)
            {
                var piece = buffer[..Math.Min(ChunkSize, buffer.Length)];
                EncryptPiece(piece);
                DrainCiphertext();
                buffer = buffer[piece.Length..];
            }
        }
        catch
        {
            _failed = true;
            throw;
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        try
        {
            while (!buffer.IsEmpty)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var piece = buffer[..Math.Min(ChunkSize, buffer.Length)];
                EncryptPiece(piece.Span);
                await DrainCiphertextAsync(cancellationToken).ConfigureAwait(false);
                buffer = buffer[piece.Length..];
            }
        }
        catch
        {
            _failed = true;
            throw;
        }
    }

    public override void WriteByte(byte value) => Write([value]);

    /// <summary>
    /// Passes on the ciphertext ready so far and flushes the destination. OpenPGP's partial-length chunks cannot end
    /// early, so up to one chunk of plaintext stays buffered until more arrives or the stream is disposed.
    /// </summary>
    public override void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        DrainCiphertext();
        _destination.Flush();
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        await DrainCiphertextAsync(cancellationToken).ConfigureAwait(false);
        await _destination.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed)
        {
            _disposed = true;
            try
            {
                if (!_failed)
                {
                    FinishMessage();
                    DrainCiphertext();
                    _destination.Flush();
                }
            }
            finally
            {
                _ciphertext.Dispose();
                if (!_leaveOpen)
                {
                    _destination.Dispose();
                }
            }
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            try
            {
                if (!_failed)
                {
                    FinishMessage();
                    await DrainCiphertextAsync(CancellationToken.None).ConfigureAwait(false);
                    await _destination.FlushAsync().ConfigureAwait(false);
                }
            }
            finally
            {
                await _ciphertext.DisposeAsync().ConfigureAwait(false);
                if (!_leaveOpen)
                {
                    await _destination.DisposeAsync().ConfigureAwait(false);
                }
            }
        }

        GC.SuppressFinalize(this);
    }

    private void EncryptPiece(ReadOnlySpan<byte> piece)
    {
        _literal.Write(piece);
        _plaintextBytes += piece.Length;
    }

    /// <summary>Ends the literal packet, then the encrypted packet with its MDC (into the in-memory buffer).</summary>
    private void FinishMessage()
    {
        _literal.Dispose();
        _encrypted.Dispose();
    }

    private void DrainCiphertext()
    {
        if (_ciphertext.Length > 0)
        {
            _destination.Write(_ciphertext.GetBuffer(), 0, (int)_ciphertext.Length);
            _ciphertext.SetLength(0);
        }
    }

    private async ValueTask DrainCiphertextAsync(CancellationToken cancellationToken)
    {
        if (_ciphertext.Length > 0)
        {
            await _destination.WriteAsync(_ciphertext.GetBuffer().AsMemory(0, (int)_ciphertext.Length), cancellationToken).ConfigureAwait(false);
            _ciphertext.SetLength(0);
        }
    }
}
