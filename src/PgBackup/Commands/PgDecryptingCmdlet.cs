using System.Management.Automation;
using System.Security;
using PgBackup.Encryption;

namespace PgBackup.Commands;

/// <summary>The decryption parameters of the cmdlets that read backups back (Test-PgBackup, Restore-PgBackup).</summary>
public abstract class PgDecryptingCmdlet : PgConnectionCmdlet
{
    /// <summary>Passphrase of passphrase-encrypted backups; else $env:PGBACKUP_ENCRYPTION_PASSPHRASE.</summary>
    [Parameter]
    [ValidateNotNull]
    public SecureString? EncryptionPassphrase { get; set; }

    /// <summary>Secret key file (gpg --export-secret-keys, armored or binary) of backups encrypted to public keys; read once, before any backup.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? DecryptionKey { get; set; }

    /// <summary>Passphrase that unlocks -DecryptionKey (if it is protected).</summary>
    [Parameter]
    [ValidateNotNull]
    public SecureString? DecryptionKeyPassphrase { get; set; }

    /// <summary>What encrypted backups are opened with (null: nothing given), from <see cref="OpenDecryption"/>.</summary>
    private protected OpenPgpDecryption? Decryption { get; private set; }

    /// <summary>Reads the key file and copies the passphrases, once, on the pipeline thread, before any backup is read.</summary>
    private protected void OpenDecryption()
        => Decryption = EncryptionKeys.ForReading(EncryptionPassphrase, DecryptionKey is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(DecryptionKey), DecryptionKeyPassphrase);

    private protected override void OnDispose() => Decryption?.Dispose();
}
