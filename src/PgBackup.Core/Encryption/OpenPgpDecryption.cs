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
/// protection are refused.
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

    private OpenPgpDecryption(Passphrase? passphrase, PgpSecretKeyRingBundle? secretKeys, string? secretKeyPath, Passphrase? secretKeyPassphrase)
    {
        _passphrase = passphrase;
        _secretKeys = secretKeys;
        _secretKeyPath = secretKeyPath;
        _secretKeyPassphrase = secretKeyPassphrase;
    }

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
            var encryptedData = EncryptedDataList(new PgpObjectFactory(decoder), target);
            var (packet, clear) = OpenSessionKey(encryptedData, target);
            if (!packet.IsIntegrityProtected())
            {
                throw new DecryptionFailedException("The encrypted data has no integrity protection (MDC), so tampering could not be detected: it is refused.", target);
            }

            var literal = LiteralData(new PgpObjectFactory(clear), target);
            success = true;
            return new DecryptingStream(literal, packet, ciphertext, leaveOpen, target);
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
