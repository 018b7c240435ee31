using System.Security.Cryptography;
using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;
using PgBackup.Streaming;

namespace PgBackup.Encryption;

/// <summary>
/// Reads the passphrase half of OpenPGP messages with .NET's hashes and AES, as <see cref="PassphraseMessage"/> writes
/// it: symmetric-key session key packets (v4, no encrypted session key: the derived key is the session key) and a
/// SEIPD v1 packet with AES. That is what PgBackup writes and what <c>gpg --symmetric</c> writes.
/// <para>
/// Why not BouncyCastle's reader: its S2K is a managed hash loop that takes 0.5 to 1.5 s per message in a fresh
/// process, and it takes only the passphrase, never a key derived before, so a restore (which checks the key before
/// touching the server, then reads) paid it twice. Here the caller derives through <c>deriveKey</c> and can keep the
/// key. BouncyCastle still parses the packets and whatever is inside (compression, literal data), and reads every
/// other kind of message.
/// </para>
/// </summary>
internal static class PassphraseMessageReader
{
    /// <summary>What the key packets may take at most before the encrypted data; a real message's are tens of bytes.</summary>
    internal const int MaxHeadBytes = 64 * 1024;

    /// <summary>What a session key packet's S2K derives: <see cref="Id"/> names the derivation (no secret in it), for a cache.</summary>
    internal sealed record KeySpec(HashAlgorithmName Hash, byte[] Salt, long Count, int KeySize)
    {
        public string Id { get; } = $"{Hash.Name}/{Convert.ToHexString(Salt)}/{Count}/{KeySize}";
    }

    /// <summary>
    /// Reads the key packets from <paramref name="packets"/> and opens the encrypted data with the first key whose
    /// quick check matches. Null when the message is not one this reader takes (public-key packets, other ciphers or
    /// S2Ks, AEAD): the caller then reads it again from the start with BouncyCastle. Throws
    /// <see cref="PgpDataValidationException"/> when no key passes the quick check (a wrong passphrase).
    /// </summary>
    /// <returns>The inner packets' stream (its end checks the integrity code, see <see cref="Opened.VerifyToEnd"/>).</returns>
    public static Opened? TryOpen(Stream packets, Func<KeySpec, byte[]> deriveKey)
    {
        var input = new BcpgInputStream(packets);
        var specs = new List<KeySpec>();
        PacketTag tag;
        while ((tag = input.NextPacketTag()) is PacketTag.SymmetricKeyEncryptedSessionKey or PacketTag.Marker)
        {
            var packet = input.ReadPacket();
            if (packet is SymmetricKeyEncSessionPacket session)
            {
                if (Spec(session) is not { } spec)
                {
                    return null;
                }

                specs.Add(spec);
            }
        }

        if (specs.Count == 0 || tag != PacketTag.SymmetricEncryptedIntegrityProtected
            || input.ReadPacket() is not SymmetricEncIntegrityPacket { Version: 1 } encrypted)
        {
            return null;
        }

        var body = encrypted.GetInputStream();
        var head = new byte[Opened.PrefixLength + 14];
        var headLength = ReadAtLeast(body, head);
        foreach (var spec in specs)
        {
            var key = deriveKey(spec);
            if (Opened.QuickCheck(key, head.AsSpan(0, headLength)))
            {
                return new Opened(body, key, head, headLength);
            }
        }

        throw new PgpDataValidationException("quick check failed");
    }

    /// <summary>The derivation this reader can do for <paramref name="session"/>; null to leave the packet to BouncyCastle.</summary>
    private static KeySpec? Spec(SymmetricKeyEncSessionPacket session)
    {
        var keySize = session.EncAlgorithm switch
        {
            SymmetricKeyAlgorithmTag.Aes128 => 16,
            SymmetricKeyAlgorithmTag.Aes192 => 24,
            SymmetricKeyAlgorithmTag.Aes256 => 32,
            _ => 0,
        };
        HashAlgorithmName? hash = session.S2k.HashAlgorithm switch
        {
            HashAlgorithmTag.Sha1 => HashAlgorithmName.SHA1,
            HashAlgorithmTag.Sha256 => HashAlgorithmName.SHA256,
            HashAlgorithmTag.Sha384 => HashAlgorithmName.SHA384,
            HashAlgorithmTag.Sha512 => HashAlgorithmName.SHA512,
            _ => null,
        };
        var encryptedSessionKey = session.GetSecKeyData() is { Length: > 0 };
        if (session.Version != 4 || keySize == 0 || hash is null || encryptedSessionKey)
        {
            return null;
        }

        return session.S2k.Type switch
        {
            S2k.Simple => new KeySpec(hash.Value, [], 0, keySize),
            S2k.Salted => new KeySpec(hash.Value, session.S2k.GetIV(), 0, keySize),
            S2k.SaltedAndIterated => new KeySpec(hash.Value, session.S2k.GetIV(), session.S2k.IterationCount, keySize),
            _ => null,
        };
    }

    private static int ReadAtLeast(Stream stream, byte[] buffer)
    {
        var length = 0;
        int read;
        while (length < buffer.Length && (read = stream.Read(buffer, length, buffer.Length - length)) > 0)
        {
            length += read;
        }

        return length;
    }

    /// <summary>
    /// A SEIPD v1 body, read: AES in CFB-128 with a zero IV over the random prefix (its last two octets repeated: the
    /// quick check), the inner packets and the MDC packet (SHA-1 of everything before its hash). The last 22 octets
    /// are held back until the end, where the MDC is checked before the end is reported: a mismatch throws
    /// <see cref="PgpDataValidationException"/>, so no consumer sees a clean end of tampered data.
    /// </summary>
    internal sealed class Opened : ForwardOnlyReadStream
    {
        internal const int PrefixLength = 16 + 2;
        private const int MdcLength = 2 + 20;
        private const int ChunkSize = 64 * 1024;

        private readonly Stream _body;
        private readonly Aes _aes;
        private readonly IncrementalHash _mdc = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        private readonly byte[] _iv = new byte[16];
        private readonly byte[] _cipher = new byte[ChunkSize + 16];
        private readonly byte[] _plain = new byte[ChunkSize + 16 + MdcLength];
        private int _cipherLength;
        private int _plainStart;
        private int _plainEnd;
        private bool _ended;

        internal Opened(Stream body, byte[] key, byte[] head, int headLength)
        {
            _body = body;
            _aes = Aes.Create();
            _aes.Key = key;
            head.AsSpan(0, headLength).CopyTo(_cipher);
            _cipherLength = headLength;
            DecryptWholeBlocks();
            if (headLength < 32)
            {
                // A message this short ends inside its second block.
                DecryptLastBlock();
            }

            // The prefix is hashed for the MDC but is no data.
            _mdc.AppendData(_plain.AsSpan(0, PrefixLength));
            _plainStart = PrefixLength;
        }

        /// <summary>Whether <paramref name="key"/> decrypts the prefix's last two octets to their repetition.</summary>
        internal static bool QuickCheck(byte[] key, ReadOnlySpan<byte> head)
        {
            if (head.Length < PrefixLength)
            {
                throw new PgpException("the encrypted data is truncated (shorter than its prefix)");
            }

            // Zero padding changes only the octets past the ciphertext: CFB decrypts an octet from its own ciphertext
            // and the block before.
            Span<byte> cipher = stackalloc byte[32];
            cipher.Clear();
            head[..Math.Min(head.Length, 32)].CopyTo(cipher);
            Span<byte> plain = stackalloc byte[32];
            using var aes = Aes.Create();
            aes.Key = key;
            aes.DecryptCfb(cipher, new byte[16], plain, PaddingMode.None, feedbackSizeInBits: 128);
            var matches = plain[14] == plain[16] && plain[15] == plain[17];
            CryptographicOperations.ZeroMemory(plain);
            return matches;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            while (!buffer.IsEmpty)
            {
                var available = _plainEnd - _plainStart - (_ended ? 0 : MdcLength);
                if (available > 0)
                {
                    var take = Math.Min(available, buffer.Length);
                    var data = _plain.AsSpan(_plainStart, take);
                    if (!_ended)
                    {
                        // Hashed as released; at the end the MDC check hashes what is still held.
                        _mdc.AppendData(data);
                    }

                    data.CopyTo(buffer);
                    _plainStart += take;
                    return take;
                }

                if (_ended)
                {
                    return 0;
                }

                Fill();
            }

            return 0;
        }

        /// <summary>Reads what the inner packets left, through the MDC check; true, or it throws.</summary>
        public bool VerifyToEnd()
        {
            Span<byte> scratch = stackalloc byte[4096];
            while (Read(scratch) > 0)
            {
            }

            return true;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                _aes.Dispose();
                _mdc.Dispose();
                CryptographicOperations.ZeroMemory(_plain);
            }

            base.Dispose(disposing);
        }

        /// <summary>Decrypts the next piece of ciphertext; at its end, the last partial block and the MDC check.</summary>
        private void Fill()
        {
            if (_plainStart > 0)
            {
                Buffer.BlockCopy(_plain, _plainStart, _plain, 0, _plainEnd - _plainStart);
                _plainEnd -= _plainStart;
                _plainStart = 0;
            }

            var read = _body.Read(_cipher, _cipherLength, ChunkSize - _cipherLength);
            if (read > 0)
            {
                _cipherLength += read;
                DecryptWholeBlocks();
                return;
            }

            DecryptLastBlock();
            CheckMdc();
        }

        private void DecryptWholeBlocks()
        {
            var whole = _cipherLength & ~15;
            if (whole == 0)
            {
                return;
            }

            _aes.DecryptCfb(_cipher.AsSpan(0, whole), _iv, _plain.AsSpan(_plainEnd, whole), PaddingMode.None, feedbackSizeInBits: 128);
            _cipher.AsSpan(whole - 16, 16).CopyTo(_iv);
            _plainEnd += whole;
            Buffer.BlockCopy(_cipher, whole, _cipher, 0, _cipherLength - whole);
            _cipherLength -= whole;
        }

        /// <summary>The last partial block.</summary>
        private void DecryptLastBlock()
        {
            if (_cipherLength == 0)
            {
                return;
            }

            PassphraseMessage.CfbLastBlock(_aes, _iv, _cipher.AsSpan(0, _cipherLength), _plain.AsSpan(_plainEnd), encrypt: false);
            _plainEnd += _cipherLength;
            _cipherLength = 0;
        }

        private void CheckMdc()
        {
            if (_plainEnd - _plainStart < MdcLength || _plain[_plainEnd - MdcLength] != 0xD3 || _plain[_plainEnd - MdcLength + 1] != 0x14)
            {
                throw new PgpDataValidationException("the encrypted data ends without its modification detection code");
            }

            // Everything not released yet (the last partial block may add data behind the held-back octets), the
            // MDC packet's tag and length included.
            _mdc.AppendData(_plain.AsSpan(_plainStart, _plainEnd - 20 - _plainStart));
            var mdc = _plain.AsSpan(_plainEnd - MdcLength, MdcLength);
            Span<byte> digest = stackalloc byte[20];
            _mdc.GetHashAndReset(digest);
            if (!CryptographicOperations.FixedTimeEquals(digest, mdc[2..]))
            {
                throw new PgpDataValidationException("modification detection code mismatch");
            }

            _plainEnd -= MdcLength;
            _ended = true;
        }
    }
}
