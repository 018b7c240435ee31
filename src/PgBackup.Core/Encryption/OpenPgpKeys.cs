using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;
using PgBackup.Errors;

namespace PgBackup.Encryption;

/// <summary>
/// Reading OpenPGP key files (armored or binary, as gpg --export / --export-secret-keys writes them) and choosing
/// the key of a ring that serves a purpose, the way gpg does: the newest valid (sub)key whose key flags allow it.
/// Every file is read once, whole, into memory (keys are small): nothing re-reads a file that may have changed.
/// </summary>
internal static class OpenPgpKeys
{
    /// <summary>Fingerprints as gpg prints them (--with-colons "fpr" lines): upper-case hex, no spaces.</summary>
    public static string Fingerprint(PgpPublicKey key) => Convert.ToHexString(key.GetFingerprint());

    /// <summary>A key id as gpg prints it in messages ("encrypted with ... ID 1A2B3C4D5E6F7081").</summary>
    public static string KeyId(long keyId) => keyId.ToString("X16", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>
    /// What BouncyCastle throws for bytes that are not (or no longer) a well-formed message: its parser throws many
    /// types (PgpException, IOException, UnsupportedPacketVersionException, …), so everything but PgBackup's own
    /// errors (e.g. the repository's read failures underneath), cancellation and fatal conditions.
    /// </summary>
    public static bool IsMalformed(Exception e) => e is not (PgBackupException or OperationCanceledException or OutOfMemoryException or StackOverflowException);

    public static PgpPublicKeyRingBundle ReadPublicKeys(string path)
        => ReadBundle(path, static stream => new PgpPublicKeyRingBundle(stream), static bundle => bundle.Count, "public", "gpg --export");

    public static PgpSecretKeyRingBundle ReadSecretKeys(string path)
        => ReadBundle(path, static stream => new PgpSecretKeyRingBundle(stream), static bundle => bundle.Count, "secret", "gpg --export-secret-keys");

    /// <summary>The key of <paramref name="ring"/> to encrypt to: gpg's choice, the newest valid encryption subkey.</summary>
    public static PgpPublicKey? EncryptionKey(PgpPublicKeyRing ring)
        => Usable(ring.GetPublicKeys(), ring.GetPublicKey(), PgpKeyFlags.CanEncryptCommunications | PgpKeyFlags.CanEncryptStorage, static key => key.IsEncryptionKey);

    /// <summary>The secret key of <paramref name="ring"/> to sign with: the newest valid signing-capable (sub)key.</summary>
    public static PgpSecretKey? SigningKey(PgpSecretKeyRing ring)
    {
        var chosen = Usable(ring.GetSecretKeys().Select(static k => k.PublicKey), ring.GetPublicKey(), PgpKeyFlags.CanSign, IsSigningAlgorithm);
        return chosen is null ? null : ring.GetSecretKey(chosen.KeyId);
    }

    /// <summary>
    /// Unlocks a secret key. A wrong passphrase (or none for a protected key) is <see cref="DecryptionFailedException"/>;
    /// the message never holds the passphrase.
    /// </summary>
    public static PgpPrivateKey Unlock(PgpSecretKey key, Passphrase? passphrase, string path)
    {
        try
        {
            return key.ExtractPrivateKeyRaw(passphrase?.Utf8 ?? [])
                ?? throw new KeyFileInvalidException($"The key {KeyId(key.KeyId)} in \"{path}\" has no secret part (a gpg stub key, e.g. on a smartcard).", path);
        }
        catch (PgpException e)
        {
            var what = passphrase is null || passphrase.IsEmpty ? "needs a passphrase, and none was given" : "did not unlock with the passphrase given (wrong passphrase)";
            throw new DecryptionFailedException($"The secret key {KeyId(key.KeyId)} in \"{path}\" {what}.", path, e);
        }
    }

    private static bool IsSigningAlgorithm(PgpPublicKey key) => key.Algorithm switch
    {
        PublicKeyAlgorithmTag.RsaGeneral or PublicKeyAlgorithmTag.RsaSign or PublicKeyAlgorithmTag.Dsa or PublicKeyAlgorithmTag.ECDsa
            or PublicKeyAlgorithmTag.EdDsa_Legacy or PublicKeyAlgorithmTag.Ed25519 or PublicKeyAlgorithmTag.Ed448 => true,
        _ => false,
    };

    /// <summary>
    /// Among <paramref name="keys"/>: not revoked, not expired, of a fitting algorithm, and with key flags allowing
    /// <paramref name="flags"/> (keys without a key-flags subpacket count as allowed: old keys have none). Subkeys
    /// win over the primary key, newer over older, as gpg picks them.
    /// </summary>
    private static PgpPublicKey? Usable(IEnumerable<PgpPublicKey> keys, PgpPublicKey primary, int flags, Func<PgpPublicKey, bool> fitsAlgorithm)
    {
        var now = DateTime.UtcNow;
        return keys
            .Where(key => fitsAlgorithm(key) && !key.HasRevocation() && !Expired(key, primary, now) && AllowedBy(KeyFlagsOf(key, primary), flags))
            .OrderBy(key => key.IsMasterKey)
            .ThenByDescending(key => key.CreationTime)
            .FirstOrDefault();
    }

    private static bool Expired(PgpPublicKey key, PgpPublicKey primary, DateTime now)
    {
        var validSeconds = key.IsMasterKey ? key.GetValidSeconds() : key.GetValidSeconds(primary);
        return validSeconds > 0 && key.CreationTime.AddSeconds(validSeconds) < now;
    }

    private static bool AllowedBy(int? keyFlags, int wanted) => keyFlags is null || (keyFlags.Value & wanted) != 0;

    /// <summary>The key flags of the newest self-signature (subkey binding, or the primary key's certifications).</summary>
    private static int? KeyFlagsOf(PgpPublicKey key, PgpPublicKey primary)
    {
        var types = key.IsMasterKey
            ? new[] { PgpSignature.PositiveCertification, PgpSignature.CasualCertification, PgpSignature.NoCertification, PgpSignature.DefaultCertification, PgpSignature.DirectKey }
            : new[] { PgpSignature.SubkeyBinding };
        var newest = key.GetSignatures()
            .Where(s => types.Contains(s.SignatureType) && s.KeyId == primary.KeyId && s.HasSubpackets && s.GetHashedSubPackets().HasSubpacket(SignatureSubpacketTag.KeyFlags))
            .OrderByDescending(s => s.CreationTime)
            .FirstOrDefault();
        return newest?.GetHashedSubPackets().GetKeyFlags();
    }

    private static TBundle ReadBundle<TBundle>(string path, Func<Stream, TBundle> parse, Func<TBundle, int> count, string kind, string export)
    {
        var bytes = ReadKeyFile(path);
        try
        {
            using var decoder = PgpUtilities.GetDecoderStream(new MemoryStream(bytes, writable: false));
            var bundle = parse(decoder);
            return count(bundle) > 0 ? bundle : throw new KeyFileInvalidException($"The key file \"{path}\" holds no OpenPGP {kind} key.", path);
        }
        catch (Exception e) when (IsMalformed(e))
        {
            throw new KeyFileInvalidException($"The key file \"{path}\" is not an OpenPGP {kind} key (export one with {export}): {e.Message}", path, e);
        }
    }

    private static byte[] ReadKeyFile(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new KeyFileInvalidException($"Cannot read the key file \"{path}\": {e.Message}", path, e);
        }
    }
}
