using PgBackup.Artifacts;
using PgBackup.Diagnostics;
using PgBackup.Errors;
using PgBackup.Storage;
using PgBackup.Streaming;

namespace PgBackup.Verification;

/// <summary>
/// What pg_dump wrote, copied to a private temporary file (mode 0600 where the OS has modes) in one read
/// that also checks the stored bytes' size and SHA-256 (and PgBackup's compression frames) to the end and,
/// for a plain dump, runs the <see cref="PsqlScriptGuard"/>. Restore-PgBackup and Test-PgBackup -Level
/// Restore both restore only from this file, and only once it passed: no byte reaches psql or pg_restore
/// before its checksum is known, and the bytes that were checked are the bytes that are restored (a
/// second read of the repository could return different ones). The one change made to a custom archive's copy
/// is the data offsets pg_dump could not write into a pipe (<see cref="ArchiveDataOffsets"/>), taken from the
/// checked bytes. Memory stays bounded; the cost is temporary disk space for the dump. Disposing deletes the file.
/// </summary>
internal sealed class VerifiedDumpFile : IAsyncDisposable
{
    public const string FilePrefix = "pgbackup-restore-";

    private VerifiedDumpFile(string path)
    {
        Path = path;
    }

    public string Path { get; }

    /// <summary>For a directory dump that passed its checksum: the private folder (0700) its tar was unpacked into.</summary>
    public string? Folder { get; private set; }

    /// <summary>What pg_restore reads: the unpacked folder of a directory dump, else the file.</summary>
    public string ArchivePath => Folder ?? Path;

    /// <summary>Why a directory dump's tar was refused unpacked (an entry pg_dump does not write); null otherwise.</summary>
    public UnsafeDumpException? UnsafeTar { get; private set; }

    /// <summary>Size, SHA-256 and (for PgBackup's stream compression) decompression.</summary>
    public IReadOnlyList<TestCheck> Checksum { get; private set; } = [];

    public bool ChecksumPassed => Checksum.All(c => c.Passed);

    /// <summary>The first bytes of the dump, for the format header check.</summary>
    public byte[] Head { get; private set; } = [];

    /// <summary>A plain dump's comments and its guard's verdict; null for archives.</summary>
    public PlainDumpScanner? Plain { get; private set; }

    /// <summary>The encryption's integrity failure of an encrypted backup (tampered ciphertext): nothing may be restored.</summary>
    public DecryptionFailedException? DecryptionFailure { get; private set; }

    /// <param name="decryption">Opens an encrypted backup: a missing key or one that does not fit throws before anything is written.</param>
    public static async Task<VerifiedDumpFile> DownloadAsync(IBackupRepository repository, BackupInfo backup, Encryption.OpenPgpDecryption? decryption, IProgress<OperationProgress>? progress, CancellationToken cancellationToken)
    {
        var file = new VerifiedDumpFile(System.IO.Path.Combine(System.IO.Path.GetTempPath(), FilePrefix + Guid.NewGuid().ToString("N") + ".dump"));
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.Asynchronous };
            if (!OperatingSystem.IsWindows())
            {
                // Created private: the dump holds the whole database's data.
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            // An encrypted backup is decrypted here or not at all (null is "no key": DecryptionKeyRequired).
            await using var pass = await ArtifactReadPass.OpenAsync(repository, backup, decryption ?? Encryption.OpenPgpDecryption.None, progress, $"Verifying {backup.Id}", cancellationToken).ConfigureAwait(false);
            await using (var target = new FileStream(file.Path, options))
            {
                await pass.ConsumeAsync(async dump =>
                {
                    // Reading (hash, decoding) and writing the copy run side by side.
                    await OverlappedCopy.CopyAsync(dump, target, cancellationToken).ConfigureAwait(false);
                    return target;
                }).ConfigureAwait(false);
            }

            var read = await pass.FinishAsync(cancellationToken).ConfigureAwait(false);
            file.Checksum = [.. VerificationChecks.Checksum(backup, read)];
            file.Head = pass.Head.ToArray();
            file.Plain = pass.Plain;
            file.DecryptionFailure = pass.DecryptionFailure;
            // Only bytes that passed both their SHA-256 and (encrypted) their integrity code are worked on further.
            var intact = file.ChecksumPassed && file.DecryptionFailure is null;
            if (backup.Format == BackupFormat.Directory && intact)
            {
                // Only bytes whose SHA-256 matched are unpacked, and only into a folder of our own.
                await file.UnpackAsync(backup, cancellationToken).ConfigureAwait(false);
            }
            else if (backup.Format == BackupFormat.Custom && intact)
            {
                // pg_dump wrote to a pipe and could not record where each table's data starts; pg_restore -j would
                // scan for it. The offsets come from the verified bytes themselves, as pg_dump -f would write them, and
                // an uncompressed archive's one-chunk-per-row data is joined into large chunks pg_restore reads faster.
                ArchiveDataOffsets.Compact(file.Path, cancellationToken);
            }

            return file;
        }
        catch
        {
            await file.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Throws <see cref="BackupCorruptException"/> unless the stored bytes are exactly the manifest's, and
    /// <see cref="UnsafeDumpException"/> when a plain dump holds psql commands pg_dump does not write.
    /// </summary>
    public void EnsureRestorable(BackupInfo backup)
    {
        if (DecryptionFailure is not null)
        {
            throw new DecryptionFailedException($"Backup {backup.Id} failed its decryption: {DecryptionFailure.Message} Nothing was restored.", backup.Id, DecryptionFailure);
        }

        if (!ChecksumPassed)
        {
            var failures = string.Join("; ", Checksum.Where(c => !c.Passed).Select(c => $"{c.Name}: {c.Detail}"));
            throw new BackupCorruptException($"Backup {backup.Id} does not match its manifest ({failures}); nothing was restored.", backup.Id);
        }

        if (UnsafeTar is not null)
        {
            throw UnsafeTar;
        }

        if (Plain?.UnsafeCommand is { } unsafeCommand)
        {
            throw new UnsafeDumpException($"Backup {backup.Id} is a plain SQL dump with {unsafeCommand}; psql was not started and nothing was restored.", backup.Id);
        }
    }

    public FileStream OpenRead()
        => new(Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);

    private async Task UnpackAsync(BackupInfo backup, CancellationToken cancellationToken)
    {
        Folder = Directory.CreateTempSubdirectory(FilePrefix).FullName; // 0700 on Unix
        await using var tar = OpenRead();
        try
        {
            await Artifacts.DirectoryArtifact.ExtractAsync(tar, Folder, backup.Id, cancellationToken).ConfigureAwait(false);
        }
        catch (UnsafeDumpException ex)
        {
            UnsafeTar = ex;
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or EndOfStreamException)
        {
            UnsafeTar = new UnsafeDumpException($"Backup {backup.Id} is a directory dump whose tar does not parse; it was not unpacked and nothing was restored.", backup.Id);
        }
    }

    public ValueTask DisposeAsync()
    {
        try
        {
            if (Folder is not null)
            {
                Directory.Delete(Folder, recursive: true);
            }
        }
        catch (IOException)
        {
            // As below: the temp folder's cleanup gets what a dying pg_restore still holds.
        }

        try
        {
            File.Delete(Path);
        }
        catch (IOException)
        {
            // Still open by a dying pg_restore on Windows; the temp folder's cleanup will get it.
        }

        return ValueTask.CompletedTask;
    }
}
