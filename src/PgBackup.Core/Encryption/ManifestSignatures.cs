using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;
using PgBackup.Catalog;
using PgBackup.Errors;
using PgBackup.Storage;

namespace PgBackup.Encryption;

/// <summary>
/// Detached OpenPGP signatures over a manifest's exact stored bytes, stored next to it as <c>&lt;manifest&gt;.sig</c>
/// (<see cref="BackupNaming.SignatureKeyFor"/>; armored, as <c>gpg --armor --detach-sign</c> writes them:
/// <c>gpg --verify manifest.json.sig manifest.json</c> checks one). Since the manifest holds the artifact's size and
/// SHA-256, a valid signature vouches for the artifact too.
/// <para>
/// New-PgBackup -SigningKey loads one <see cref="ManifestSigner"/> before any dump starts (a wrong key passphrase fails
/// early, writing nothing); the backup service signs each manifest once it is written. Test-/Restore-PgBackup
/// -TrustedSigningKey load one <see cref="TrustedSigningKeys"/> and take the backup from <see cref="ReadTrustedAsync"/>:
/// the manifest read once, verified, and only then believed. Retention removes the .sig with its manifest.
/// </para>
/// </summary>
internal static class ManifestSignatures
{
    /// <summary>
    /// The backup whose manifest is stored under <paramref name="manifestKey"/>, built from exactly the bytes whose
    /// signature verified against <paramref name="trusted"/> (so its size and SHA-256 are the signed ones, whatever a
    /// piped object or an earlier read said). An unsigned manifest, one signed by another key, or one changed after
    /// signing is <see cref="SignatureInvalidException"/>.
    /// </summary>
    public static async Task<(BackupInfo Backup, VerifiedSignature Signature)> ReadTrustedAsync(
        IBackupRepository repository, string manifestKey, TrustedSigningKeys trusted, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(trusted);
        var location = repository.GetObjectLocation(manifestKey);
        var manifestBytes = await repository.ReadSmallObjectAsync(manifestKey, cancellationToken).ConfigureAwait(false);
        var signatureKey = BackupNaming.SignatureKeyFor(manifestKey);
        var signature = await repository.ExistsAsync(signatureKey, cancellationToken).ConfigureAwait(false)
            ? await repository.ReadSmallObjectAsync(signatureKey, cancellationToken).ConfigureAwait(false)
            : null;
        var verified = trusted.Verify(manifestBytes, signature, location);
        var manifest = ManifestSerializer.Deserialize(manifestBytes, location);
        return (new BackupCatalog(repository).ToBackupInfo(manifest, manifestKey, signed: true), verified);
    }

    /// <summary>Signs the manifest bytes just stored under <paramref name="manifestKey"/> and stores the signature next to them (create-only).</summary>
    public static async Task WriteAsync(IBackupRepository repository, string manifestKey, ReadOnlyMemory<byte> manifest, ManifestSigner signer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(repository);
        ArgumentNullException.ThrowIfNull(signer);
        var signature = System.Text.Encoding.ASCII.GetBytes(signer.Sign(manifest.Span));
        await repository.WriteSmallObjectAsync(BackupNaming.SignatureKeyFor(manifestKey), signature, metadata: null, cancellationToken).ConfigureAwait(false);
    }
}

/// <summary>Who signed a manifest, once the signature verified against a trusted key.</summary>
/// <param name="KeyFingerprint">The trusted key's primary fingerprint (as gpg prints "Primary key fingerprint").</param>
/// <param name="SigningKeyFingerprint">The (sub)key that made the signature (gpg's "using ... key").</param>
/// <param name="SignedAt">The signature's creation time (UTC).</param>
internal sealed record VerifiedSignature(string KeyFingerprint, string SigningKeyFingerprint, DateTime SignedAt);

/// <summary>A secret signing key, read and unlocked once, that signs any number of manifests.</summary>
internal sealed class ManifestSigner
{
    private readonly PgpPrivateKey _privateKey;
    private readonly PgpPublicKey _publicKey;

    private ManifestSigner(PgpPrivateKey privateKey, PgpPublicKey publicKey, string keyFingerprint)
    {
        _privateKey = privateKey;
        _publicKey = publicKey;
        KeyFingerprint = keyFingerprint;
    }

    /// <summary>The signing key's primary fingerprint, for messages and the manifest if wanted.</summary>
    public string KeyFingerprint { get; }

    /// <summary>
    /// Reads <paramref name="secretKeyPath"/> (gpg --export-secret-keys, armored or binary) and unlocks its newest
    /// valid signing key with <paramref name="keyPassphrase"/> (null for an unprotected key): a wrong passphrase is
    /// <see cref="DecryptionFailedException"/>, a file without a signing key <see cref="KeyFileInvalidException"/>.
    /// </summary>
    public static ManifestSigner Load(string secretKeyPath, Passphrase? keyPassphrase)
    {
        ArgumentNullException.ThrowIfNull(secretKeyPath);
        var rings = OpenPgpKeys.ReadSecretKeys(secretKeyPath).GetKeyRings().ToList();
        if (rings.Count != 1)
        {
            throw new KeyFileInvalidException($"The signing key file \"{secretKeyPath}\" holds {rings.Count} keys; export exactly one (gpg --export-secret-keys <fingerprint>).", secretKeyPath);
        }

        var secretKey = OpenPgpKeys.SigningKey(rings[0])
            ?? throw new KeyFileInvalidException($"The key in \"{secretKeyPath}\" has no valid signing key (revoked, expired, or encryption only).", secretKeyPath);
        var privateKey = OpenPgpKeys.Unlock(secretKey, keyPassphrase, secretKeyPath);
        return new ManifestSigner(privateKey, secretKey.PublicKey, OpenPgpKeys.Fingerprint(rings[0].GetPublicKey()));
    }

    /// <summary>An armored detached signature (binary document, SHA-256) over exactly <paramref name="manifest"/>.</summary>
    public string Sign(ReadOnlySpan<byte> manifest)
    {
        var generator = new PgpSignatureGenerator(_publicKey.Algorithm, HashAlgorithmTag.Sha256);
        generator.InitSign(PgpSignature.BinaryDocument, _privateKey);
        var subpackets = new PgpSignatureSubpacketGenerator();
        subpackets.SetSignatureCreationTime(false, DateTime.UtcNow);
        subpackets.SetIssuerFingerprint(false, _publicKey);
        generator.SetHashedSubpackets(subpackets.Generate());
        generator.Update(manifest);

        using var text = new MemoryStream();
        using (var armor = new ArmoredOutputStream(text))
        {
            generator.Generate().Encode(armor);
        }

        return System.Text.Encoding.ASCII.GetString(text.GetBuffer(), 0, (int)text.Length);
    }
}

/// <summary>The public keys whose signatures on a manifest are trusted (-TrustedSigningKey), read once.</summary>
internal sealed class TrustedSigningKeys
{
    private readonly IReadOnlyList<PgpPublicKeyRing> _rings;

    private TrustedSigningKeys(IReadOnlyList<PgpPublicKeyRing> rings)
    {
        _rings = rings;
    }

    /// <summary>Primary fingerprints of the trusted keys.</summary>
    public IReadOnlyList<string> Fingerprints => [.. _rings.Select(r => OpenPgpKeys.Fingerprint(r.GetPublicKey()))];

    /// <summary>Every key ring in every file (gpg --export, armored or binary).</summary>
    public static TrustedSigningKeys Load(IReadOnlyList<string> publicKeyPaths)
    {
        ArgumentNullException.ThrowIfNull(publicKeyPaths);
        if (publicKeyPaths.Count == 0)
        {
            throw new ArgumentException("At least one trusted key is needed.", nameof(publicKeyPaths));
        }

        return new TrustedSigningKeys([.. publicKeyPaths.SelectMany(path => OpenPgpKeys.ReadPublicKeys(path).GetKeyRings())]);
    }

    /// <summary>
    /// Checks <paramref name="signature"/> (armored or binary detached signature; null when the manifest has none)
    /// over exactly <paramref name="manifest"/>. Returns who signed; a missing signature, one by a key not trusted
    /// (or revoked), or one that does not match the bytes is <see cref="SignatureInvalidException"/>.
    /// </summary>
    /// <param name="target">What errors are about (the manifest's name).</param>
    public VerifiedSignature Verify(ReadOnlySpan<byte> manifest, byte[]? signature, object? target = null)
    {
        if (signature is null)
        {
            throw new SignatureInvalidException($"The manifest is not signed (no {BackupNaming.SignatureSuffix} next to it), and a trusted signing key was required.", target);
        }

        var signatures = ReadSignatures(signature, target);
        var foreign = new List<string>();
        var mismatched = false;
        foreach (var candidate in signatures)
        {
            var (ring, key) = Find(candidate.KeyId);
            if (ring is null || key is null)
            {
                foreign.Add(OpenPgpKeys.KeyId(candidate.KeyId));
                continue;
            }

            if (candidate.SignatureType != PgpSignature.BinaryDocument || key.HasRevocation() || ring.GetPublicKey().HasRevocation())
            {
                mismatched = true;
                continue;
            }

            if (Verifies(candidate, key, manifest))
            {
                return new VerifiedSignature(OpenPgpKeys.Fingerprint(ring.GetPublicKey()), OpenPgpKeys.Fingerprint(key), candidate.CreationTime);
            }

            mismatched = true;
        }

        throw mismatched
            ? new SignatureInvalidException("The manifest's signature does not match it: the manifest was changed after it was signed (or the signing key is revoked).", target)
            : new SignatureInvalidException($"The manifest is signed by {string.Join(", ", foreign)}, which is not among the trusted signing keys ({string.Join(", ", Fingerprints)}).", target);
    }

    /// <summary>Whether the signature is the key's over the bytes; unusable signature material counts as no.</summary>
    private static bool Verifies(PgpSignature signature, PgpPublicKey key, ReadOnlySpan<byte> manifest)
    {
        try
        {
            signature.InitVerify(key);
            signature.Update(manifest);
            return signature.Verify();
        }
        catch (Exception e) when (OpenPgpKeys.IsMalformed(e))
        {
            return false;
        }
    }

    private (PgpPublicKeyRing? Ring, PgpPublicKey? Key) Find(long keyId)
    {
        foreach (var ring in _rings)
        {
            var key = ring.GetPublicKey(keyId);
            if (key is not null)
            {
                return (ring, key);
            }
        }

        return (null, null);
    }

    private static List<PgpSignature> ReadSignatures(byte[] signature, object? target)
    {
        try
        {
            using var decoder = PgpUtilities.GetDecoderStream(new MemoryStream(signature, writable: false));
            var factory = new PgpObjectFactory(decoder);
            while (factory.NextPgpObject() is { } next)
            {
                switch (next)
                {
                    case PgpCompressedData compressed:
                        factory = new PgpObjectFactory(compressed.GetDataStream());
                        break;
                    case PgpSignatureList list when list.Count > 0:
                        return [.. Enumerable.Range(0, list.Count).Select(i => list[i])];
                    case PgpMarker:
                        break;
                    default:
                        throw new SignatureInvalidException("The manifest's signature file holds no OpenPGP signature.", target);
                }
            }
        }
        catch (Exception e) when (OpenPgpKeys.IsMalformed(e))
        {
            throw new SignatureInvalidException($"The manifest's signature file is not an OpenPGP signature: {e.Message}", target, e);
        }

        throw new SignatureInvalidException("The manifest's signature file holds no OpenPGP signature.", target);
    }
}
