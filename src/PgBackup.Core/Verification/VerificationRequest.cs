using PgBackup.Connection;
using PgBackup.Storage;

namespace PgBackup.Verification;

/// <summary>One backup to test, and how deep.</summary>
internal sealed record VerificationRequest
{
    public required BackupInfo Backup { get; init; }

    /// <summary>The repository holding the backup's artifact.</summary>
    public required IBackupRepository Repository { get; init; }

    public TestLevel Level { get; init; } = TestLevel.Structure;

    /// <summary>
    /// -TrustedSigningKey: the manifest must carry a valid signature by one of these keys (the Signature check, first);
    /// the test then uses the signed manifest's size and SHA-256. A failed Signature check ends the test there.
    /// </summary>
    public Encryption.TrustedSigningKeys? TrustedSigningKeys { get; init; }

    /// <summary>
    /// Opens an encrypted backup (Structure and Restore need it; Checksum uses it when given, to decode the frames
    /// too). Null: Checksum checks the encrypted bytes only, Structure and Restore are DecryptionKeyRequired.
    /// </summary>
    public Encryption.OpenPgpDecryption? Decryption { get; init; }

    /// <summary>The server the Restore level restores into; required for that level only.</summary>
    public PgConnectionSettings? Connection { get; init; }

    /// <summary>Leave the temporary database of the Restore level in place (for inspection).</summary>
    public bool KeepDatabase { get; init; }

    /// <summary>Drop leftover working databases of interrupted restores and tests older than an hour (-Force) instead of only warning.</summary>
    public bool DropLeftovers { get; init; }
}
