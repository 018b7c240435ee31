using System.Globalization;
using System.Text;

namespace PgBackup.Artifacts;

/// <summary>
/// The one shell command (bash/sh) that restores an artifact without PgBackup, run in the folder that holds it:
/// an encrypted artifact is decrypted by gpg, PgBackup's stream stage is undone by the matching command-line decompressor, a directory artifact is unpacked
/// with tar, and pg_restore/psql connect the libpq way (PGHOST, PGPORT, PGUSER, PGPASSWORD or ~/.pgpass) into the
/// database named by PGDATABASE — `${PGDATABASE:?}` stops the command before anything runs when it is unset,
/// rather than letting libpq fall back to a database named after the user. Stored in the manifest (so a copy of the
/// repository carries it) and shown as BackupInfo.RestoreHint.
/// </summary>
internal static class RestoreHint
{
    private const string TargetDatabase = "--dbname=\"${PGDATABASE:?set PGDATABASE to the target database}\"";

    public static string For(BackupFormat format, CompressionStage stage, BackupCompression compression, string artifactFileName, int jobs, bool encrypted = false)
    {
        // "./" keeps a name that starts with '-' (a database may be called that) from reading as an option.
        var file = ShellQuote("./" + artifactFileName);
        // An encrypted artifact is read through gpg first (it asks for the passphrase, or uses the secret key in the
        // user's keyring); whatever follows then reads the decrypted bytes from the pipe.
        var decrypt = encrypted ? $"gpg --decrypt {file}" : null;
        var decompress = stage == CompressionStage.Stream
            ? (decrypt is null ? $"{Decompressor(compression)} {file}" : $"{decrypt} | {Decompressor(compression)}")
            : decrypt;
        var parallel = jobs > 1 ? string.Create(CultureInfo.InvariantCulture, $" --jobs={jobs}") : string.Empty;
        return format switch
        {
            BackupFormat.Plain => $"{decompress ?? "cat " + file} | psql -X -v ON_ERROR_STOP=1 --single-transaction {TargetDatabase}",
            BackupFormat.Directory when decrypt is not null =>
                $"{decompress} | (mkdir pgbackup-restore && tar -x -C pgbackup-restore) && pg_restore --exit-on-error{parallel} {TargetDatabase} pgbackup-restore && rm -r pgbackup-restore",
            BackupFormat.Directory =>
                // The artifact is a tar stream of pg_dump's directory; pg_restore -j needs it unpacked.
                $"mkdir pgbackup-restore && {decompress ?? "cat " + file} | tar -x -C pgbackup-restore && pg_restore --exit-on-error{parallel} {TargetDatabase} pgbackup-restore && rm -r pgbackup-restore",
            _ when decompress is not null => $"{decompress} | pg_restore --exit-on-error {TargetDatabase}",
            _ => $"pg_restore --exit-on-error{parallel} {TargetDatabase} {file}",
        };
    }

    private static string Decompressor(BackupCompression compression) => compression switch
    {
        BackupCompression.Gzip => "gzip -dc",
        BackupCompression.Zstd => "zstd -dc",
        BackupCompression.Lz4 => "lz4 -dc",
        _ => "cat",
    };

    /// <summary>Single-quoted for sh: nothing inside is special except the quote itself.</summary>
    private static string ShellQuote(string value)
    {
        var builder = new StringBuilder("'");
        foreach (var c in value)
        {
            builder.Append(c == '\'' ? "'\\''" : c.ToString());
        }

        return builder.Append('\'').ToString();
    }
}
