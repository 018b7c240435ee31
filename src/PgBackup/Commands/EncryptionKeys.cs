using System.Security;
using PgBackup.Encryption;
using PgBackup.Errors;

namespace PgBackup.Commands;

/// <summary>
/// Turns the encryption parameters of New-, Test- and Restore-PgBackup into the core's key objects, on the pipeline
/// thread (paths resolved by the caller) and once per cmdlet run: key files are read here, before anything else
/// happens, and a passphrase only ever exists as a SecureString, the environment variable, or a zeroed buffer.
/// </summary>
internal static class EncryptionKeys
{
    /// <summary>
    /// New-PgBackup: -EncryptionPassphrase, else -EncryptionPublicKey, else $env:PGBACKUP_ENCRYPTION_PASSPHRASE;
    /// null when none of them is given. Both parameters together are an invalid request (nothing is written).
    /// </summary>
    public static OpenPgpEncryption? ForBackup(SecureString? passphrase, IReadOnlyList<string>? publicKeyPaths)
    {
        if (passphrase is not null && publicKeyPaths is not null)
        {
            throw new InvalidBackupRequestException("-EncryptionPassphrase and -EncryptionPublicKey exclude each other: encrypt with a passphrase or to public keys.");
        }

        if (publicKeyPaths is not null)
        {
            return OpenPgpEncryption.ForRecipients(publicKeyPaths);
        }

        using var secret = passphrase is not null ? FromSecureString(passphrase) : Passphrase.FromEnvironment();
        return secret is null ? null : OpenPgpEncryption.ForPassphrase(secret);
    }

    /// <summary>
    /// Test- and Restore-PgBackup: -EncryptionPassphrase (else $env:PGBACKUP_ENCRYPTION_PASSPHRASE) and/or
    /// -DecryptionKey with -DecryptionKeyPassphrase; null when there is nothing to decrypt with.
    /// </summary>
    public static OpenPgpDecryption? ForReading(SecureString? passphrase, string? secretKeyPath, SecureString? keyPassphrase)
    {
        using var secret = passphrase is not null ? FromSecureString(passphrase) : Passphrase.FromEnvironment();
        using var keySecret = keyPassphrase is null ? null : Passphrase.FromSecureString(keyPassphrase);
        return OpenPgpDecryption.For(secret, secretKeyPath, keySecret);
    }

    private static Passphrase FromSecureString(SecureString secure)
        => secure.Length == 0 ? throw new InvalidBackupRequestException("The encryption passphrase is empty.") : Passphrase.FromSecureString(secure);
}
