using System.Security.Cryptography;
using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;
using PgBackup.Errors;
using PgBackup.Streaming;

namespace PgBackup.Encryption;

/// <summary>
/// The decryption read stage: an OpenPGP message (ours, or gpg's: passphrase or public key, compressed or not) in,
/// plaintext out. <see cref="Decrypt"/> reads the message's header at once, so a wrong passphrase or a missing key
/// fails before the caller starts anything (no server is touched); the returned stream checks the integrity code
/// (MDC) when the plaintext ends and throws <see cref="DecryptionFailedException"/> instead of reporting the end,
/// so a consumer that acts only after reading everything never acts on tampered bytes. Messages without integrity
/// protection are refused. Passphrase-only messages with AES (ours, gpg --symmetric) are opened by
/// <see cref="PassphraseMessageReader"/> with .NET's S2K, and the key is kept for the next open of the same message
/// (a restore's early check, then its read); everything else by BouncyCastle.
/// <para>
/// Integration: Test-PgBackup (Structure, Restore) and Restore-PgBackup build one <see cref="OpenPgpDecryption"/>
/// from -EncryptionPassphrase / $env:PGBACKUP_ENCRYPTION_PASSPHRASE (<see cref="ForPassphrase"/>) or -DecryptionKey +
/// -DecryptionKeyPassphrase (<see cref="ForSecretKey"/>), and wrap the verified artifact stream (after the SHA-256
/// check of the ciphertext) with <c>using var plain = decryption.Decrypt(artifact);</c> before decompression.
/// </para>
/// </summary>
internal sealed class OpenPgpDecryption : IDisposable
{
    private readonly Passphrase? _passphrase;
    private readonly PgpSecretKeyRingBundle? _secretKeys;
    private readonly string? _secretKeyPath;
    private readonly Passphrase? _secretKeyPassphrase;
    private readonly object _keyLock = new();
    private int _keyDerivations;
    // The last passphrase key derived (and what it was derived for): a restore opens the same message twice, first
    // to check the key before the server is touched, then to read it; the deliberately slow S2K runs once.
    private string? _derivedKeyId;
    private byte[]? _derivedKey;

    private OpenPgpDecryption(Passphrase? passphrase, PgpSecretKeyRingBundle? secretKeys, string? secretKeyPath, Passphrase? secretKeyPassphrase)
    {
        _passphrase = passphrase;
        _secretKeys = secretKeys;
        _secretKeyPath = secretKeyPath;
        _secretKeyPassphrase = secretKeyPassphrase;
    }

    /// <summary>How often a passphrase key was derived (the S2K: deliberately slow), for the tests that keep it to once.</summary>
    internal int KeyDerivations => _keyDerivations;

    /// <summary>Nothing to decrypt with: any encrypted artifact is then <see cref="DecryptionKeyRequiredException"/>.</summary>
    public static OpenPgpDecryption None { get; } = new(null, null, null, null);

    /// <summary>Decrypts passphrase-encrypted messages. The passphrase is copied: the caller disposes its own.</summary>
    public static OpenPgpDecryption ForPassphrase(Passphrase passphrase)
    {
        ArgumentNullException.ThrowIfNull(passphrase);
        return new OpenPgpDecryption(passphrase.Copy(), null, null, null);
    }

    /// <summary>
    /// Decrypts messages encrypted to a key in <paramref name="secretKeyPath"/> (gpg --export-secret-keys, armored or
    /// binary; read once, here). <paramref name="keyPassphrase"/> unlocks it (copied; null for an unprotected key).
    /// </summary>
    public static OpenPgpDecryption ForSecretKey(string secretKeyPath, Passphrase? keyPassphrase)
    {
        ArgumentNullException.ThrowIfNull(secretKeyPath);
        return new OpenPgpDecryption(null, OpenPgpKeys.ReadSecretKeys(secretKeyPath), secretKeyPath, keyPassphrase?.Copy());
    }

    /// <summary>
    /// Decrypts with whichever was given: a passphrase, a secret key file (read once, here) unlocked with
    /// <paramref name="keyPassphrase"/>, or both (a message opens with either). Null when neither was given.
    /// Passphrases are copied: the caller disposes its own.
    /// </summary>
    public static OpenPgpDecryption? For(Passphrase? passphrase, string? secretKeyPath, Passphrase? keyPassphrase)
    {
        if (secretKeyPath is null)
        {
            return passphrase is null ? null : ForPassphrase(passphrase);
        }

        return new OpenPgpDecryption(passphrase?.Copy(), OpenPgpKeys.ReadSecretKeys(secretKeyPath), secretKeyPath, keyPassphrase?.Copy());
    }

    /// <summary>
    /// Opens <paramref name="ciphertext"/> (read from its current position) and returns the plaintext stream.
    /// Throws <see cref="DecryptionKeyRequiredException"/> when the message needs a passphrase or key not given,
    /// <see cref="DecryptionFailedException"/> for a wrong passphrase or a message that is not OpenPGP.
    /// </summary>
    /// <param name="target">What errors are about (the artifact's name), never a secret.</param>
    public Stream Decrypt(Stream ciphertext, bool leaveOpen = false, object? target = null)
    {
        ArgumentNullException.ThrowIfNull(ciphertext);
        var success = false;
        try
        {
            var decoder = DecoderStream(ciphertext);
            if (_passphrase is not null)
            {
                var head = new ReplayableHeadStream(decoder, PassphraseMessageReader.MaxHeadBytes);
                var opened = OpenWithPassphrase(head, ciphertext, leaveOpen, target);
                if (opened is not null)
                {
                    success = true;
                    return opened;
                }

                // Not a message the passphrase reader takes: BouncyCastle reads it from the start.
                decoder = head.Rewind();
            }

            var encryptedData = EncryptedDataList(new PgpObjectFactory(decoder), target);
            var (packet, clear) = OpenSessionKey(encryptedData, target);
            if (!packet.IsIntegrityProtected())
            {
                throw new DecryptionFailedException("The encrypted data has no integrity protection (MDC), so tampering could not be detected: it is refused.", target);
            }

            var literal = LiteralData(new PgpObjectFactory(clear), target);
            success = true;
            return new DecryptingStream(literal, packet.Verify, null, ciphertext, leaveOpen, target);
        }
        catch (Exception e) when (OpenPgpKeys.IsMalformed(e))
        {
            throw new DecryptionFailedException($"The data is not a readable OpenPGP message (corrupt, or not encrypted by PgBackup or gpg): {e.Message}", target, e);
        }
        finally
        {
            if (!success && !leaveOpen)
            {
                ciphertext.Dispose();
            }
        }
    }

    /// <summary>
    /// Opens a passphrase-only message (ours, or gpg --symmetric with AES) with .NET's S2K and AES and a key derived
    /// once per message (<see cref="PassphraseKey"/>); null when the message needs BouncyCastle (<paramref name="head"/>
    /// kept what was read, to be read again).
    /// </summary>
    private DecryptingStream? OpenWithPassphrase(ReplayableHeadStream head, Stream ciphertext, bool leaveOpen, object? target)
    {
        PassphraseMessageReader.Opened? opened;
        try
        {
            opened = PassphraseMessageReader.TryOpen(head, PassphraseKey);
        }
        catch (PgpDataValidationException e)
        {
            // No session key packet's key passed the quick check, and the message has no other kind: the passphrase is wrong.
            throw new DecryptionFailedException("The passphrase does not decrypt this data (wrong passphrase).", target, e);
        }

        if (opened is null)
        {
            return null;
        }

        head.Forget();
        try
        {
            var literal = LiteralData(new PgpObjectFactory(opened), target);
            return new DecryptingStream(literal, opened.VerifyToEnd, opened, ciphertext, leaveOpen, target);
        }
        catch
        {
            opened.Dispose();
            throw;
        }
    }

    /// <summary>The key <paramref name="spec"/> derives from the passphrase: the last one is kept, so a message opened again derives nothing.</summary>
    private byte[] PassphraseKey(PassphraseMessageReader.KeySpec spec)
    {
        lock (_keyLock)
        {
            if (_derivedKey is not null && _derivedKeyId == spec.Id)
            {
                return _derivedKey;
            }

            var key = GC.AllocateArray<byte>(spec.KeySize, pinned: true);
            Interlocked.Increment(ref _keyDerivations);
            PassphraseMessage.DeriveKey(spec.Hash, _passphrase!.Utf8, spec.Salt, spec.Count, key);
            ForgetDerivedKey();
            _derivedKey = key;
            _derivedKeyId = spec.Id;
            return key;
        }
    }

    private void ForgetDerivedKey()
    {
        if (_derivedKey is not null)
        {
            CryptographicOperations.ZeroMemory(_derivedKey);
            _derivedKey = null;
            _derivedKeyId = null;
        }
    }

    /// <summary>
    /// The message's packets, from binary or armored input. BouncyCastle's own detection needs a seekable stream; a
    /// repository's is forward-only, so the first byte is peeked and put back: binary packets start with the high bit set.
    /// </summary>
    private static Stream DecoderStream(Stream ciphertext)
    {
        if (ciphertext.CanSeek)
        {
            return PgpUtilities.GetDecoderStream(ciphertext);
        }

        var first = ciphertext.ReadByte();
        if (first < 0)
        {
            throw new PgpException("the data is empty");
        }

        var whole = new PeekedStream((byte)first, ciphertext);
        return (first & 0x80) != 0 ? whole : new ArmoredInputStream(whole);
    }

    public void Dispose()
    {
        lock (_keyLock)
        {
            ForgetDerivedKey();
        }

        _passphrase?.Dispose();
        _secretKeyPassphrase?.Dispose();
    }

    private static PgpEncryptedDataList EncryptedDataList(PgpObjectFactory factory, object? target)
    {
        var next = factory.NextPgpObject();
        while (next is PgpMarker)
        {
            next = factory.NextPgpObject();
        }

        return next as PgpEncryptedDataList
            ?? throw new DecryptionFailedException("The data is not an OpenPGP encrypted message.", target);
    }

    private (PgpEncryptedData Packet, Stream Clear) OpenSessionKey(PgpEncryptedDataList list, object? target)
    {
        var recipientKeyIds = new List<string>();
        var passphraseEncrypted = false;
        Exception? wrongPassphrase = null;
        foreach (var data in list.GetEncryptedDataObjects())
        {
            switch (data)
            {
                case PgpPbeEncryptedData pbe:
                    passphraseEncrypted = true;
                    if (_passphrase is not null)
                    {
                        try
                        {
                            Interlocked.Increment(ref _keyDerivations);
                            return (pbe, pbe.GetDataStreamRaw(_passphrase.Utf8));
                        }
                        catch (PgpDataValidationException e)
                        {
                            // The session key's check bytes did not match: the passphrase is wrong.
                            wrongPassphrase = e;
                        }
                    }

                    break;
                case PgpPublicKeyEncryptedData pk:
                    recipientKeyIds.Add(pk.KeyId == 0 ? "(hidden recipient)" : OpenPgpKeys.KeyId(pk.KeyId));
                    var opened = TryPrivateKey(pk);
                    if (opened is not null)
                    {
                        return (pk, opened);
                    }

                    break;
            }
        }

        if (wrongPassphrase is not null)
        {
            throw new DecryptionFailedException("The passphrase does not decrypt this data (wrong passphrase).", target, wrongPassphrase);
        }

        var needs = (passphraseEncrypted, recipientKeyIds.Count > 0) switch
        {
            (true, true) => $"a passphrase or the secret key of one of {string.Join(", ", recipientKeyIds)}",
            (true, false) => "a passphrase",
            (false, true) => $"the secret key of one of {string.Join(", ", recipientKeyIds)}",
            _ => "a key this message does not name",
        };
        var given = (_passphrase, _secretKeyPath) switch
        {
            (not null, _) => "a passphrase was given",
            (_, not null) => $"the key file \"{_secretKeyPath}\" holds none of them",
            _ => "none was given",
        };
        throw new DecryptionKeyRequiredException($"The data is encrypted; decrypting it needs {needs}, and {given}.", target);
    }

    /// <summary>The session key stream if a secret key we hold opens <paramref name="data"/>; null if we hold none.</summary>
    private Stream? TryPrivateKey(PgpPublicKeyEncryptedData data)
    {
        if (_secretKeys is null)
        {
            return null;
        }

        // Key id 0 is a hidden recipient (gpg --throw-keyids): every secret key we hold may be the one.
        var candidates = data.KeyId == 0
            ? _secretKeys.GetKeyRings().SelectMany(r => r.GetSecretKeys()).Where(k => k.PublicKey.IsEncryptionKey).ToList()
            : [.. new[] { _secretKeys.GetSecretKey(data.KeyId) }.OfType<PgpSecretKey>()];
        foreach (var secretKey in candidates)
        {
            var privateKey = OpenPgpKeys.Unlock(secretKey, _secretKeyPassphrase, _secretKeyPath!);
            try
            {
                return data.GetDataStream(privateKey);
            }
            catch (PgpException) when (data.KeyId == 0)
            {
                // Not this key: try the next one.
            }
        }

        return null;
    }

    /// <summary>The literal data inside, through gpg's optional compression and one-pass signature packets.</summary>
    private static Stream LiteralData(PgpObjectFactory factory, object? target)
    {
        while (true)
        {
            switch (factory.NextPgpObject())
            {
                case PgpCompressedData compressed:
                    factory = new PgpObjectFactory(compressed.GetDataStream());
                    break;
                case PgpOnePassSignatureList or PgpSignatureList or PgpMarker:
                    break;
                case PgpLiteralData literal:
                    return literal.GetDataStream();
                default:
                    throw new DecryptionFailedException("The encrypted message holds no data (no literal data packet).", target);
            }
        }
    }
}

/// <summary>A forward-only stream with one byte already read from it put back in front.</summary>
internal sealed class PeekedStream(byte first, Stream rest) : ForwardOnlyReadStream
{
    private bool _firstRead;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
        {
            return 0;
        }

        if (!_firstRead)
        {
            _firstRead = true;
            buffer[0] = first;
            return 1;
        }

        return rest.Read(buffer);
    }
}

/// <summary>
/// A forward-only stream that keeps what is read from it (up to a limit), so that a reader that gave up on a message's
/// head can hand the whole message, from its first byte, to another reader.
/// </summary>
internal sealed class ReplayableHeadStream(Stream rest, int limit) : ForwardOnlyReadStream
{
    private MemoryStream? _head = new();
    private bool _replaying;

    /// <summary>Stops keeping: what was read is gone for good.</summary>
    public void Forget() => _head = null;

    /// <summary>Reads from the start again (what was kept, then the rest) and stops keeping.</summary>
    public Stream Rewind()
    {
        _head!.Position = 0;
        _replaying = true;
        return this;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_replaying)
        {
            var kept = _head!.Read(buffer);
            if (kept > 0)
            {
                return kept;
            }

            _replaying = false;
            _head = null;
        }

        var read = rest.Read(buffer);
        if (_head is not null)
        {
            if (_head.Length + read > limit)
            {
                throw new PgpException($"the message's key packets take more than {limit:N0} bytes");
            }

            _head.Write(buffer[..read]);
        }

        return read;
    }
}
