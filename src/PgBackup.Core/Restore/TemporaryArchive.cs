using PgBackup.Artifacts;
using PgBackup.Storage;

namespace PgBackup.Restore;

/// <summary>
/// A backup's dump copied to a private temporary file (mode 0600 where the OS has modes), for the
/// one case that needs to seek in it: parallel pg_restore. The copy is verified against the
/// manifest while it is written. Disposing deletes it.
/// </summary>
internal sealed class TemporaryArchive : IAsyncDisposable
{
    public const string FilePrefix = "pgbackup-restore-";

    private TemporaryArchive(string path)
    {
        Path = path;
    }

    public string Path { get; }

    public static async Task<TemporaryArchive> DownloadAsync(IBackupRepository repository, BackupInfo backup, CancellationToken cancellationToken)
    {
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), FilePrefix + Guid.NewGuid().ToString("N") + ".dump");
        var archive = new TemporaryArchive(path);
        try
        {
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.Asynchronous };
            if (!OperatingSystem.IsWindows())
            {
                // Created private: the dump holds the whole database's data.
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            await using var dump = await BackupArtifactReader.OpenDumpAsync(repository, backup, cancellationToken).ConfigureAwait(false);
            await using var file = new FileStream(path, options);
            await dump.CopyToAsync(file, 1 << 20, cancellationToken).ConfigureAwait(false);
            return archive;
        }
        catch
        {
            await archive.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask DisposeAsync()
    {
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
