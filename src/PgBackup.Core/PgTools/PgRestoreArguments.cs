using System.Globalization;
using PgBackup.Connection;

namespace PgBackup.PgTools;

/// <summary>What to ask pg_restore (or psql, for plain dumps) for.</summary>
internal sealed record PgRestoreOptions
{
    public required string TargetDatabase { get; init; }

    /// <summary>Skip ownership commands (restore as the connecting user).</summary>
    public bool NoOwner { get; init; }

    /// <summary>Parallel jobs; more than one needs the archive as a seekable file.</summary>
    public int Jobs { get; init; } = 1;

    /// <summary>Archive file to read; null reads stdin.</summary>
    public string? ArchivePath { get; init; }
}

/// <summary>
/// argv for pg_restore and psql. Like <see cref="PgDumpArguments"/>: no secret ever goes here, and the
/// database goes in as a quoted conninfo so hostile names are never reinterpreted.
/// </summary>
internal static class PgRestoreArguments
{
    /// <summary>The tool that restores a format: psql for plain SQL, pg_restore for archives.</summary>
    public static string ToolFor(BackupFormat format) => format == BackupFormat.Plain ? "psql" : "pg_restore";

    public static IReadOnlyList<string> ForRestore(BackupFormat format, PgRestoreOptions options)
    {
        var dbname = "--dbname=dbname=" + ConnectionStringParser.QuoteValue(options.TargetDatabase);
        if (format == BackupFormat.Plain)
        {
            // Ownership in a plain dump is baked into the SQL; --no-owner cannot apply.
            return ["-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "--set=client_min_messages=warning", dbname, "-f", options.ArchivePath ?? "-"];
        }

        var args = new List<string> { "--no-password", "--exit-on-error" };
        if (options.NoOwner)
        {
            args.Add("--no-owner");
            args.Add("--no-acl");
        }

        if (options.Jobs > 1)
        {
            if (options.ArchivePath is null)
            {
                throw new ArgumentException("Parallel restore needs the archive as a file.", nameof(options));
            }

            args.Add(string.Create(CultureInfo.InvariantCulture, $"--jobs={options.Jobs}"));
        }

        args.Add(dbname);
        if (options.ArchivePath is not null)
        {
            args.Add(options.ArchivePath);
        }

        return args;
    }

    /// <summary><c>pg_restore --list</c> on stdin (or a file): prints the archive's table of contents.</summary>
    public static IReadOnlyList<string> ForList(string? archivePath = null)
        => archivePath is null ? ["--list"] : ["--list", archivePath];
}
