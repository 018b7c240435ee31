using System.Buffers.Binary;
using System.Security.Cryptography;
using PgBackup.Streaming;

namespace PgBackup.Encryption;

/// <summary>
/// The passphrase half of the OpenPGP message (RFC 4880) written with .NET's own SHA-256, AES and SHA-1: a
/// symmetric-key session key packet (v4, AES-256, iterated and salted S2K with SHA-256, no encrypted session key: the
/// derived key is the session key, with a fresh salt per message), then the start of a symmetrically encrypted
/// integrity-protected packet (SEIPD v1: CFB with a zero IV over a random prefix, the inner packets and the MDC), in
/// partial-length chunks. gpg writes the same for <c>gpg --symmetric --cipher-algo AES256 --s2k-digest-algo SHA256</c>.
/// <para>
/// Why not BouncyCastle's generator: its S2K is a managed SHA-256 loop over 65 MB that takes seconds in a fresh
/// process (before the JIT optimizes it); .NET's SHA-256 (OpenSSL, CNG) does the same in about a tenth of the time.
/// <see cref="PassphraseMessageReader"/> reads these messages (and gpg's) the same way; gpg proves this writer right in
/// the tests, and BouncyCastle this S2K.
/// </para>
/// </summary>
internal static class PassphraseMessage
{
    private const byte SymmetricKeyEncryptedSessionKeyTag = 3;
    private const byte SeipdTag = 18;
    private const byte Aes256 = 9;
    private const byte Sha256 = 8;
    private const byte IteratedSalted = 3;
    private const int KeySize = 32;
    private const int SaltSize = 8;

    /// <summary>
    /// Writes the session key packet to <paramref name="output"/> and returns the stream the inner packets are written
    /// to; disposing it writes the MDC and the last chunk. <paramref name="s2kCount"/> is the encoded count byte.
    /// </summary>
    public static Stream Open(Stream output, Passphrase passphrase, int s2kCount)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(s2kCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(s2kCount, 0xFF);
        var salt = RandomNumberGenerator.GetBytes(SaltSize);
        var key = GC.AllocateArray<byte>(KeySize, pinned: true);
        try
        {
            DeriveKey(passphrase.Utf8, salt, s2kCount, key);
            // New-format header, one-octet length: version, cipher, S2K type, hash, salt, count.
            Span<byte> packet = stackalloc byte[2 + 4 + SaltSize + 1];
            packet[0] = 0xC0 | SymmetricKeyEncryptedSessionKeyTag;
            packet[1] = (byte)(packet.Length - 2);
            packet[2] = 4;
            packet[3] = Aes256;
            packet[4] = IteratedSalted;
            packet[5] = Sha256;
            salt.CopyTo(packet[6..]);
            packet[^1] = (byte)s2kCount;
            output.Write(packet);
            return new SeipdStream(output, key);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>
    /// RFC 4880 3.7.1.3 with SHA-256 and a 32-byte key, from the encoded count byte: the key this writer's messages use.
    /// </summary>
    internal static void DeriveKey(ReadOnlySpan<byte> passphrase, ReadOnlySpan<byte> salt, int s2kCount, Span<byte> key)
        => DeriveKey(HashAlgorithmName.SHA256, passphrase, salt, (long)(16 + (s2kCount & 15)) << ((s2kCount >> 4) + 6), key);

    /// <summary>
    /// RFC 4880 3.7.1.3: the hash over salt‖passphrase repeated until <paramref name="count"/> octets are hashed (the
    /// whole of salt‖passphrase at least once; the simple and salted S2K are the same with no salt or a count of 0). A
    /// key longer than one hash output takes more hash contexts, the i-th preloaded with i zero octets.
    /// </summary>
    internal static void DeriveKey(HashAlgorithmName hashAlgorithm, ReadOnlySpan<byte> passphrase, ReadOnlySpan<byte> salt, long count, Span<byte> key)
    {
        var unit = salt.Length + passphrase.Length;
        count = unit == 0 ? 0 : Math.Max(count, unit);
        var repeats = Math.Max(1, (64 * 1024) / Math.Max(unit, 1));
        var block = GC.AllocateArray<byte>(unit * repeats, pinned: true);
        try
        {
            for (var i = 0; i < repeats; i++)
            {
                salt.CopyTo(block.AsSpan(i * unit));
                passphrase.CopyTo(block.AsSpan((i * unit) + salt.Length));
            }

            using var hash = IncrementalHash.CreateHash(hashAlgorithm);
            Span<byte> digest = stackalloc byte[64];
            for (int produced = 0, preload = 0; produced < key.Length; preload++)
            {
                for (var zero = 0; zero < preload; zero++)
                {
                    hash.AppendData([0]);
                }

                for (var left = count; left > 0;)
                {
                    var take = (int)Math.Min(left, block.Length);
                    hash.AppendData(block, 0, take);
                    left -= take;
                }

                var length = hash.GetHashAndReset(digest);
                var copy = Math.Min(length, key.Length - produced);
                digest[..copy].CopyTo(key[produced..]);
                produced += copy;
            }

            CryptographicOperations.ZeroMemory(digest);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(block);
        }
    }

    /// <summary>
    /// CFB-128 of a last block shorter than 16 octets, either way: its octets are the input XOR the keystream's first
    /// octets, so the zero-padded block is run whole and only the input's octets are kept.
    /// </summary>
    internal static void CfbLastBlock(Aes aes, ReadOnlySpan<byte> iv, ReadOnlySpan<byte> input, Span<byte> output, bool encrypt)
    {
        Span<byte> block = stackalloc byte[16];
        block.Clear();
        input.CopyTo(block);
        Span<byte> result = stackalloc byte[16];
        if (encrypt)
        {
            aes.EncryptCfb(block, iv, result, PaddingMode.None, feedbackSizeInBits: 128);
        }
        else
        {
            aes.DecryptCfb(block, iv, result, PaddingMode.None, feedbackSizeInBits: 128);
        }

        result[..input.Length].CopyTo(output);
        CryptographicOperations.ZeroMemory(result);
    }

    /// <summary>
    /// The SEIPD packet's body, written: bytes are hashed for the MDC, encrypted with AES-256 in CFB-128 (whole blocks;
    /// at most 15 bytes wait for the next write) and framed in 64 KiB partial-length chunks.
    /// </summary>
    private sealed class SeipdStream : ForwardOnlyWriteStream
    {
        private const int ChunkSize = EncryptingStream.ChunkSize;
        private const byte ChunkLengthOctet = 224 + 16; // 2^16

        private readonly Stream _output;
        private readonly Aes _aes;
        private readonly IncrementalHash _mdc = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        private readonly byte[] _iv = new byte[16];
        private readonly byte[] _pendingPlain = new byte[16];
        private readonly byte[] _body = new byte[ChunkSize + (2 * ChunkSize)];
        private int _pendingPlainLength;
        private int _bodyLength;
        private bool _headerWritten;
        private bool _disposed;

        public SeipdStream(Stream output, byte[] key)
        {
            _output = output;
            _aes = Aes.Create();
            _aes.Key = key;
            // The packet's version octet is the first of its body, in the clear.
            _body[_bodyLength++] = 1;
            // The random prefix, its last two octets repeated (the quick check), hashed and encrypted like data.
            Span<byte> prefix = stackalloc byte[18];
            RandomNumberGenerator.Fill(prefix[..16]);
            prefix[14..16].CopyTo(prefix[16..]);
            Append(prefix);
        }

        public override bool CanWrite => !_disposed;

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            while (!buffer.IsEmpty)
            {
                // Bounded pieces: the body buffer holds one chunk and a piece's ciphertext.
                var piece = buffer[..Math.Min(buffer.Length, ChunkSize)];
                Append(piece);
                buffer = buffer[piece.Length..];
            }
        }

        public override void Flush() => _output.Flush();

        protected override void Dispose(bool disposing)
        {
            if (disposing && !_disposed)
            {
                _disposed = true;
                try
                {
                    // The MDC packet: its tag and length are hashed too, then the SHA-1 of everything, all encrypted.
                    ReadOnlySpan<byte> header = [0xD3, 0x14];
                    Append(header);
                    Span<byte> digest = stackalloc byte[20];
                    _mdc.GetHashAndReset(digest);
                    EncryptAndFrame(digest, hash: false);
                    FinishCipher();
                    WriteFinalChunk();
                }
                finally
                {
                    _aes.Dispose();
                    _mdc.Dispose();
                    CryptographicOperations.ZeroMemory(_pendingPlain);
                }
            }

            base.Dispose(disposing);
        }

        private void Append(ReadOnlySpan<byte> plaintext) => EncryptAndFrame(plaintext, hash: true);

        private void EncryptAndFrame(ReadOnlySpan<byte> plaintext, bool hash)
        {
            if (hash)
            {
                _mdc.AppendData(plaintext);
            }

            // Complete the pending block first, then whole blocks straight from the input, then keep the rest.
            if (_pendingPlainLength > 0)
            {
                var take = Math.Min(16 - _pendingPlainLength, plaintext.Length);
                plaintext[..take].CopyTo(_pendingPlain.AsSpan(_pendingPlainLength));
                _pendingPlainLength += take;
                plaintext = plaintext[take..];
                if (_pendingPlainLength < 16)
                {
                    return;
                }

                EncryptBlocks(_pendingPlain);
                _pendingPlainLength = 0;
            }

            var whole = plaintext.Length & ~15;
            if (whole > 0)
            {
                EncryptBlocks(plaintext[..whole]);
            }

            plaintext[whole..].CopyTo(_pendingPlain);
            _pendingPlainLength = plaintext.Length - whole;
        }

        private void EncryptBlocks(ReadOnlySpan<byte> blocks)
        {
            var destination = _body.AsSpan(_bodyLength, blocks.Length);
            _aes.EncryptCfb(blocks, _iv, destination, PaddingMode.None, feedbackSizeInBits: 128);
            destination[^16..].CopyTo(_iv);
            _bodyLength += blocks.Length;
            WriteFullChunks();
        }

        /// <summary>The last partial block.</summary>
        private void FinishCipher()
        {
            if (_pendingPlainLength == 0)
            {
                return;
            }

            CfbLastBlock(_aes, _iv, _pendingPlain.AsSpan(0, _pendingPlainLength), _body.AsSpan(_bodyLength), encrypt: true);
            _bodyLength += _pendingPlainLength;
            _pendingPlainLength = 0;
        }

        private void WriteFullChunks()
        {
            var offset = 0;
            while (_bodyLength - offset > ChunkSize)
            {
                // A partial chunk only while more follows: the last one always carries a definite length.
                WriteHeaderOnce();
                _output.WriteByte(ChunkLengthOctet);
                _output.Write(_body, offset, ChunkSize);
                offset += ChunkSize;
            }

            if (offset > 0)
            {
                Buffer.BlockCopy(_body, offset, _body, 0, _bodyLength - offset);
                _bodyLength -= offset;
            }
        }

        private void WriteFinalChunk()
        {
            WriteFullChunks();
            WriteHeaderOnce();
            Span<byte> length = stackalloc byte[5];
            var octets = _bodyLength switch
            {
                < 192 => WriteOne(length, _bodyLength),
                < 8384 => WriteTwo(length, _bodyLength),
                _ => WriteFive(length, _bodyLength),
            };
            _output.Write(length[..octets]);
            _output.Write(_body, 0, _bodyLength);
        }

        private void WriteHeaderOnce()
        {
            if (!_headerWritten)
            {
                _headerWritten = true;
                _output.WriteByte(0xC0 | SeipdTag);
            }
        }

        private static int WriteOne(Span<byte> length, int value)
        {
            length[0] = (byte)value;
            return 1;
        }

        private static int WriteTwo(Span<byte> length, int value)
        {
            value -= 192;
            length[0] = (byte)((value >> 8) + 192);
            length[1] = (byte)value;
            return 2;
        }

        private static int WriteFive(Span<byte> length, int value)
        {
            length[0] = 0xFF;
            BinaryPrimitives.WriteInt32BigEndian(length[1..], value);
            return 4 + 1;
        }
    }
}
