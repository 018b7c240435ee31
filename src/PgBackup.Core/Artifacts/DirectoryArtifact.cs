using System.Formats.Tar;
using PgBackup.Errors;

namespace PgBackup.Artifacts;

/// <summary>
/// A directory-format dump stored as one artifact: a tar stream of pg_dump's output folder (its table files stay as
/// pg_dump compressed them), so the repository, the manifest's SHA-256, S3, Test-PgBackup and retention treat it like
/// any single-file dump. On the way back the tar is untrusted input: only plain file names and the folder itself
/// are accepted, each file is created new and private, and anything else refuses the whole artifact.
/// </summary>
internal static class DirectoryArtifact
{
    /// <summary>pg_dump's table of contents in a directory dump.</summary>
    private const string TocFileName = "toc.dat";

    /// <summary>
    /// Writes every file of <paramref name="directory"/> (pg_dump -Fd writes no sub-folders) into <paramref name="output"/>
    /// as a tar stream, toc.dat first. GNU format: no extended header precedes an entry (.NET's PAX writer adds one to
    /// every entry), so the artifact starts with toc.dat's own header, which the Format header check reads as it reads
    /// pg_dump's tar format; and a table file over 8 GiB still fits (base-256 size), which plain ustar cannot hold.
    /// </summary>
    public static async Task WriteTarAsync(string directory, Stream output, CancellationToken cancellationToken)
    {
        await using var tar = new TarWriter(output, TarEntryFormat.Gnu, leaveOpen: true);
        var files = Directory.GetFiles(directory)
            .OrderBy(file => Path.GetFileName(file) == TocFileName ? 0 : 1)
            .ThenBy(file => file, StringComparer.Ordinal);
        foreach (var file in files)
        {
            await tar.WriteEntryAsync(file, Path.GetFileName(file), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Unpacks a verified tar stream into <paramref name="destination"/> (an empty private folder). Throws
    /// <see cref="UnsafeDumpException"/> for an absolute or nested path, '..', a link, a device or any other entry
    /// pg_dump's folder cannot hold; nothing is ever written outside <paramref name="destination"/>.
    /// </summary>
    public static async Task ExtractAsync(Stream tarStream, string destination, string backupId, CancellationToken cancellationToken)
    {
        await using var reader = new TarReader(tarStream, leaveOpen: true);
        var files = 0;
        while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
        {
            if (entry.EntryType == TarEntryType.Directory && entry.Name.TrimEnd('/') is "." or "")
            {
                continue;
            }

            if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile) || !IsPlainFileName(entry.Name))
            {
                throw new UnsafeDumpException(
                    $"Backup {backupId} is a directory dump whose tar holds an entry pg_dump does not write (a {entry.EntryType} entry, or a path that is not a plain file name); it was not unpacked and nothing was restored.",
                    backupId);
            }

            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.Asynchronous };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            await using (var target = new FileStream(Path.Combine(destination, entry.Name), options))
            {
                if (entry.DataStream is { } data)
                {
                    await data.CopyToAsync(target, 1 << 20, cancellationToken).ConfigureAwait(false);
                }
            }

            files++;
        }

        if (files == 0 || !File.Exists(Path.Combine(destination, TocFileName)))
        {
            throw new UnsafeDumpException($"Backup {backupId} is a directory dump whose tar holds no toc.dat; nothing was restored.", backupId);
        }
    }

    private static bool IsPlainFileName(string name)
        => name.Length is > 0 and <= 255
            && name is not ("." or "..")
            && name.IndexOfAny(['/', '\\', '\0', ':']) < 0
            && !Path.IsPathRooted(name);
}
