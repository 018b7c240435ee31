using Org.BouncyCastle.Bcpg.OpenPgp;
using PgBackup.Errors;
using PgBackup.Streaming;

namespace PgBackup.Encryption;

/// <summary>
/// Read-only plaintext of an OpenPGP message (see <see cref="OpenPgpDecryption"/>). The end of the data is reported
/// only after the integrity code (MDC) over the whole message verified; a mismatch, or any damage found on the way,
/// is <see cref="DecryptionFailedException"/> instead. Reads are synchronous inside BouncyCastle; ReadAsync runs
/// them off the caller's thread (Stream's default).
/// </summary>
internal sealed class DecryptingStream : ForwardOnlyReadStream
{
    private readonly Stream _literal;
    private readonly Func<bool> _verify;
    private readonly IDisposable? _decryptor;
    private readonly Stream _ciphertext;
    private readonly bool _leaveOpen;
    private readonly object? _target;
    private long _position;
    private bool _verified;
    private bool _failed;

    /// <param name="verify">Reads the rest of the encrypted data and checks its MDC (BouncyCastle's or <see cref="PassphraseMessageReader"/>'s).</param>
    /// <param name="decryptor">What decrypts below <paramref name="literal"/>, disposed with this stream (null: nothing of ours).</param>
    internal DecryptingStream(Stream literal, Func<bool> verify, IDisposable? decryptor, Stream ciphertext, bool leaveOpen, object? target)
    {
        _literal = literal;
        _verify = verify;
        _decryptor = decryptor;
        _ciphertext = ciphertext;
        _leaveOpen = leaveOpen;
        _target = target;
    }

    public override long Position => _position;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_failed)
        {
            throw Tampered(null);
        }

        if (buffer.IsEmpty || _verified)
        {
            return 0;
        }

        try
        {
            var read = _literal.Read(buffer);
            if (read > 0)
            {
                _position += read;
                return read;
            }

            // The plaintext ended: the end is true only if the MDC over everything read matches.
            if (!_verify())
            {
                throw new PgpDataValidationException("modification detection code mismatch");
            }

            _verified = true;
            return 0;
        }
        catch (Exception e) when (OpenPgpKeys.IsMalformed(e))
        {
            _failed = true;
            throw Tampered(e);
        }
    }

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 0 ? -1 : one[0];
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _literal.Dispose();
            _decryptor?.Dispose();
            if (!_leaveOpen)
            {
                _ciphertext.Dispose();
            }
        }

        base.Dispose(disposing);
    }

    private DecryptionFailedException Tampered(Exception? inner)
        => new("The encrypted data failed its integrity check: it was tampered with or is corrupt, and none of it may be used.", _target, inner);
}
