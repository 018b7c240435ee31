using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;
using PgBackup.Errors;

namespace PgBackup.Encryption;

/// <summary>
/// Detached OpenPGP signatures over a manifest's exact bytes, stored next to it as <c>&lt;manifest&gt;.sig</c>
/// (armored, as <c>gpg --armor --detach-sign</c> writes; <c>gpg --verify manifest.json.sig manifest.json</c> checks it).
/// Since the manifest holds each artifact's SHA-256, a valid signature vouches for the artifacts too.
/// <para>
/// Integration: New-PgBackup -SigningKey builds one <see cref="ManifestSigner"/> (<see cref="ManifestSigner.Load"/>,
/// before the backup starts, so a wrong key passphrase fails early) and writes <c>signer.Sign(manifestBytes)</c> to
/// <see cref="SignatureName"/>(manifest) after the manifest. Test-/Restore-PgBackup -TrustedSigningKey build one
/// <see cref="TrustedSigningKeys"/> and call <c>trusted.Verify(manifestBytes, signatureBytesOrNull, target)</c> before
/// trusting the manifest; retention removes the .sig with its manifest.
/// </para>
/// </summary>
internal static class ManifestSignatures
{
    public const string Extension = ".sig";

    /// <summary>The signature's name (key or path) for a manifest's.</summary>
    public static string SignatureName(string manifestName) => manifestName + Extension;
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
            throw new SignatureInvalidException($"The manifest is not signed (no {ManifestSignatures.Extension} next to it), and a trusted signing key was required.", target);
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
