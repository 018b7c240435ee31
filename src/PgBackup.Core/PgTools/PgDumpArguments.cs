using System.Globalization;
using PgBackup.Connection;

namespace PgBackup.PgTools;

/// <summary>What to ask pg_dump for; turned into argv by <see cref="PgDumpArguments.Build"/>.</summary>
internal sealed record PgDumpOptions
{
    public required string Database { get; init; }

    public BackupFormat Format { get; init; } = BackupFormat.Custom;

    /// <summary>pg_dump's own compression method for custom format ("gzip", "zstd", "lz4"), or null for none.</summary>
    public string? CompressionMethod { get; init; }

    public int? CompressionLevel { get; init; }

    public bool SchemaOnly { get; init; }

    /// <summary>pg_dump -j (directory format only; each job is one more connection).</summary>
    public int Jobs { get; init; } = 1;

    /// <summary>Where a directory-format dump is written (pg_dump -f); null for the other formats, which go to stdout.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>An exported snapshot to dump (so row counts taken elsewhere see the same data).</summary>
    public string? Snapshot { get; init; }
}

/// <summary>
/// Builds pg_dump's argv. No secret ever goes here: the password travels in the child's
/// environment. The database goes in as a quoted conninfo so that names containing '=', spaces,
/// quotes or a leading '-' are never reinterpreted.
/// </summary>
internal static class PgDumpArguments
{
    public static IReadOnlyList<string> Build(PgDumpOptions options, int pgDumpMajor)
    {
        var args = new List<string>
        {
            "--format=" + options.Format switch
            {
                BackupFormat.Custom => "custom",
                BackupFormat.Plain => "plain",
                BackupFormat.Tar => "tar",
                BackupFormat.Directory => "directory",
                _ => throw new ArgumentOutOfRangeException(nameof(options), options.Format, "Unknown format."),
            },
            "--no-password",
        };

        if (options.Format is BackupFormat.Custom or BackupFormat.Directory)
        {
            // pg_dump 16 accepts "method:level"; older versions only a gzip level (0 = none).
            var level = options.CompressionLevel;
            if (options.CompressionMethod is null)
            {
                args.Add("--compress=0");
            }
            else if (pgDumpMajor >= 16)
            {
                args.Add(level is { } l
                    ? string.Create(CultureInfo.InvariantCulture, $"--compress={options.CompressionMethod}:{l}")
                    : $"--compress={options.CompressionMethod}");
            }
            else if (level is { } gzipLevel)
            {
                args.Add(string.Create(CultureInfo.InvariantCulture, $"--compress={gzipLevel}"));
            }
        }
        else
        {
            // Plain and tar output is compressed by PgBackup's stream stage, not by pg_dump.
            if (pgDumpMajor >= 16 && options.Format == BackupFormat.Plain)
            {
                args.Add("--compress=none");
            }
        }

        if (options.SchemaOnly)
        {
            args.Add("--schema-only");
        }

        if (options.Format == BackupFormat.Directory)
        {
            args.Add("--file=" + (options.OutputDirectory ?? throw new ArgumentException("A directory-format dump needs an output directory.", nameof(options))));
            if (options.Jobs > 1)
            {
                args.Add(string.Create(CultureInfo.InvariantCulture, $"--jobs={options.Jobs}"));
            }
        }

        if (!string.IsNullOrEmpty(options.Snapshot))
        {
            args.Add("--snapshot=" + options.Snapshot);
        }

        args.Add("--dbname=dbname=" + ConnectionStringParser.QuoteValue(options.Database));
        return args;
    }
}
