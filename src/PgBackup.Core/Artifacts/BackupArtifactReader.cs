using PgBackup.Encryption;
using PgBackup.Errors;
using PgBackup.Storage;
using PgBackup.Streaming;

namespace PgBackup.Artifacts;

/// <summary>
/// Opens a backup's stored bytes for reading back — for checks and restores, locally or from S3 —
/// as one stream: stored bytes → size/SHA-256 verification → decompression (when PgBackup's
/// stream stage compressed them). What comes out is what pg_dump wrote.
/// </summary>
internal static class BackupArtifactReader
{
    /// <summary>The stored bytes, verified against the manifest as they are read (no decompression).</summary>
    public static async Task<VerifyingReadStream> OpenStoredAsync(IBackupRepository repository, BackupInfo backup, CancellationToken cancellationToken)
    {
        var key = RequireArtifact(backup);
        var raw = await repository.OpenReadAsync(key, cancellationToken).ConfigureAwait(false);
        return new VerifyingReadStream(raw, backup.Sha256, backup.SizeBytes, backup.Location ?? key);
    }

    /// <summary>pg_dump's original output: verified, then decompressed if PgBackup compressed it.</summary>
    public static async Task<Stream> OpenDumpAsync(IBackupRepository repository, BackupInfo backup, CancellationToken cancellationToken)
    {
        var stored = await OpenStoredAsync(repository, backup, cancellationToken).ConfigureAwait(false);
        return backup.CompressionStage == CompressionStage.Stream
            ? CompressionStages.Decompress(stored, backup.Compression, leaveOpen: false)
            : stored;
    }

    /// <summary>
    /// For an encrypted backup: reads the head of its message and opens the session key with
    /// <paramref name="decryption"/> (null: none given), so a missing key (DecryptionKeyRequired) or a wrong
    /// passphrase or private key (DecryptionFailed) is known before anything touches a server.
    /// </summary>
    public static async Task EnsureDecryptableAsync(IBackupRepository repository, BackupInfo backup, OpenPgpDecryption? decryption, CancellationToken cancellationToken)
    {
        if (!backup.Encrypted)
        {
            return;
        }

        await using var stored = await OpenStoredAsync(repository, backup, cancellationToken).ConfigureAwait(false);
        await using var plain = OpenDecrypted(stored, backup, decryption);
    }

    /// <summary>The plaintext of an encrypted backup's stored bytes (which stay open); throws when it cannot be opened.</summary>
    public static Stream OpenDecrypted(Stream stored, BackupInfo backup, OpenPgpDecryption? decryption)
        => (decryption ?? OpenPgpDecryption.None).Decrypt(stored, leaveOpen: true, target: backup.Location ?? backup.Id);

    /// <summary>Checks the backup can be read back at all: it succeeded and has an artifact.</summary>
    public static string RequireArtifact(BackupInfo backup)
    {
        if (backup.Status != BackupStatus.Succeeded)
        {
            throw new BackupNotRestorableException($"Backup {backup.Id} is a failed attempt ({backup.Error}); it has nothing to read back.", backup.Id);
        }

        return backup.ArtifactKey ?? throw new BackupNotRestorableException($"Backup {backup.Id} names no artifact in its manifest.", backup.Id);
    }
}
