using Org.BouncyCastle.Bcpg;
using Org.BouncyCastle.Bcpg.OpenPgp;
using Org.BouncyCastle.Security;
using PgBackup.Errors;

namespace PgBackup.Encryption;

/// <summary>What a manifest records about an artifact's encryption: never a key or a passphrase.</summary>
/// <param name="Algorithm">"OpenPGP AES-256" (<see cref="OpenPgpEncryption.AlgorithmName"/>).</param>
/// <param name="KeyFingerprints">The recipients' primary key fingerprints as gpg prints them; empty for a passphrase.</param>
/// <param name="PassphraseProtected">Whether a passphrase opens the artifact.</param>
internal sealed record EncryptionInfo(string Algorithm, IReadOnlyList<string> KeyFingerprints, bool PassphraseProtected);

/// <summary>
/// The encryption write stage: an OpenPGP message (RFC 4880) that <c>gpg --decrypt</c> (2.2 and later) opens.
/// <para>
/// Where it goes: pg_dump → compression → <b>encryption</b> → hashing/counting → repository. After compression,
/// because ciphertext does not compress; before hashing, so the manifest's SHA-256 and size are of the stored bytes
/// and Test-PgBackup -Level Checksum needs no key. The artifact's name gets <see cref="FileExtension"/>
/// (backup.dump.zst → backup.dump.zst.gpg), and the manifest records <see cref="Info"/>; the manifest itself stays
/// plaintext (listing and retention need no key) and may be signed (<see cref="ManifestSignatures"/>).
/// </para>
/// <para>
/// The message: a public-key (one per recipient) or passphrase (iterated+salted S2K, SHA-256, gpg's default count;
/// written by <see cref="PassphraseMessage"/>) session key packet, then a symmetrically encrypted integrity-protected packet (SEIPD v1, AES-256, MDC) holding one
/// binary literal data packet, both in partial-length chunks of 64 KiB so the size need not be known. No
/// OpenPGP compression: PgBackup compressed before (a compression packet would only cost time).
/// </para>
/// <para>
/// Integration (the lead's wiring): build one <see cref="OpenPgpEncryption"/> per backup run with
/// <see cref="ForPassphrase"/> (from <see cref="Passphrase.FromSecureString"/> or <see cref="Passphrase.FromEnvironment"/>)
/// or <see cref="ForRecipients"/> (the -EncryptionPublicKey paths; files read here, once), put <see cref="Info"/> in the
/// manifest, and for each artifact wrap the hashing stream: <c>await using var encrypted = encryption.Encrypt(hashing, leaveOpen: true);</c>
/// then write the compressed bytes to it with WriteAsync and <c>await encrypted.DisposeAsync()</c> (which writes the
/// integrity trailer) before reading the hash. Reading back: <see cref="OpenPgpDecryption"/>.
/// </para>
/// </summary>
internal sealed class OpenPgpEncryption : IDisposable
{
    public const string AlgorithmName = "OpenPGP AES-256";

    /// <summary>Appended to an encrypted artifact's name, as gpg names its output.</summary>
    public const string FileExtension = ".gpg";

    /// <summary>gpg's default S2K iteration count (65011712 bytes hashed, encoded as 0xFF): slows passphrase guessing.</summary>
    internal const int DefaultS2kCount = 0xFF;

    private readonly Passphrase? _passphrase;
    private readonly IReadOnlyList<PgpPublicKey> _recipients;
    private readonly int _s2kCount;

    private OpenPgpEncryption(Passphrase? passphrase, IReadOnlyList<PgpPublicKey> recipients, EncryptionInfo info, int s2kCount)
    {
        _passphrase = passphrase;
        _recipients = recipients;
        Info = info;
        _s2kCount = s2kCount;
    }

    public EncryptionInfo Info { get; }

    /// <summary>
    /// The gpg command that decrypts an artifact to its unencrypted name (for the RestoreHint; gpg asks for the
    /// passphrase or uses the secret key in the user's keyring): <c>gpg --output shop.dump.zst --decrypt shop.dump.zst.gpg</c>.
    /// </summary>
    public static string GpgDecryptCommand(string artifactFileName)
    {
        ArgumentNullException.ThrowIfNull(artifactFileName);
        var plain = artifactFileName.EndsWith(FileExtension, StringComparison.Ordinal) ? artifactFileName[..^FileExtension.Length] : artifactFileName + ".out";
        return $"gpg --output {plain} --decrypt {artifactFileName}";
    }

    /// <summary>Passphrase encryption. The passphrase is copied: the caller disposes its own.</summary>
    /// <param name="s2kCount">The encoded S2K count; lower only in tests.</param>
    public static OpenPgpEncryption ForPassphrase(Passphrase passphrase, int s2kCount = DefaultS2kCount)
    {
        ArgumentNullException.ThrowIfNull(passphrase);
        if (passphrase.IsEmpty)
        {
            throw new InvalidBackupRequestException("The encryption passphrase is empty.");
        }

        return new OpenPgpEncryption(passphrase.Copy(), [], new EncryptionInfo(AlgorithmName, [], PassphraseProtected: true), s2kCount);
    }

    /// <summary>
    /// Public-key encryption to every key ring in every file (armored or binary, as gpg --export writes them); each
    /// ring's newest valid encryption subkey is used. A file without one is <see cref="KeyFileInvalidException"/>.
    /// </summary>
    public static OpenPgpEncryption ForRecipients(IReadOnlyList<string> publicKeyPaths)
    {
        ArgumentNullException.ThrowIfNull(publicKeyPaths);
        if (publicKeyPaths.Count == 0)
        {
            throw new InvalidBackupRequestException("No public key was given to encrypt to.");
        }

        var recipients = new List<PgpPublicKey>();
        var fingerprints = new List<string>();
        foreach (var path in publicKeyPaths)
        {
            foreach (var ring in OpenPgpKeys.ReadPublicKeys(path).GetKeyRings())
            {
                var key = OpenPgpKeys.EncryptionKey(ring)
                    ?? throw new KeyFileInvalidException($"The key {OpenPgpKeys.Fingerprint(ring.GetPublicKey())} in \"{path}\" has no valid encryption key (revoked, expired, or signing only).", path);
                var fingerprint = OpenPgpKeys.Fingerprint(ring.GetPublicKey());
                if (!fingerprints.Contains(fingerprint))
                {
                    recipients.Add(key);
                    fingerprints.Add(fingerprint);
                }
            }
        }

        return new OpenPgpEncryption(null, recipients, new EncryptionInfo(AlgorithmName, fingerprints, PassphraseProtected: false), DefaultS2kCount);
    }

    /// <summary>
    /// The encrypting stream in front of <paramref name="destination"/>. Dispose it (DisposeAsync in async code) to
    /// finish the message; a stream whose writing failed is not finished (no integrity trailer), so a failed backup
    /// never leaves a well-formed but truncated message behind.
    /// </summary>
    public EncryptingStream Encrypt(Stream destination, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (_passphrase is not null && _recipients.Count == 0)
        {
            // .NET's SHA-256 derives the key (a fresh salt per message): BouncyCastle's takes seconds in a fresh process.
            var passphrase = _passphrase;
            var s2kCount = _s2kCount;
            return new EncryptingStream(ciphertext => PassphraseMessage.Open(ciphertext, passphrase, s2kCount), destination, leaveOpen);
        }

        var generator = new PgpEncryptedDataGenerator(SymmetricKeyAlgorithmTag.Aes256, withIntegrityPacket: true, new SecureRandom());
        if (_passphrase is not null)
        {
            // Derives the key from the bytes now; BouncyCastle keeps the derived key, not the passphrase.
            generator.AddMethodRaw(_passphrase.Utf8, HashAlgorithmTag.Sha256, _s2kCount);
        }

        foreach (var recipient in _recipients)
        {
            generator.AddMethod(recipient);
        }

        return new EncryptingStream(generator, destination, leaveOpen);
    }

    public void Dispose() => _passphrase?.Dispose();
}
