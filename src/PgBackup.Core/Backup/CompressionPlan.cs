namespace PgBackup.Backup;

/// <summary>
/// Who compresses: pg_dump itself (so pg_restore reads the archive natively), or PgBackup's stream stage around
/// pg_dump's output. Pure: unit-tested for every format × method × pg_dump version.
/// </summary>
internal sealed record CompressionPlan(string? PgDumpMethod, int? PgDumpLevel, BackupCompression StreamCompression, int? StreamLevel)
{
    /// <summary>
    /// zstd's level when none is asked for. Measured on the benchmark database (PostgreSQL 15, see README): level 1
    /// is the fastest and its output is still smaller than pg_dump -Fc's gzip; higher levels cost CPU on the
    /// dump's critical path for a few percent of size.
    /// </summary>
    public const int DefaultZstdLevel = 1;

    /// <summary>Who compressed, as recorded in the manifest.</summary>
    public CompressionStage Stage => PgDumpMethod is not null ? CompressionStage.PgDump : StreamCompression != BackupCompression.None ? CompressionStage.Stream : CompressionStage.None;

    /// <param name="pgDumpMajor">null while pg_dump has not been located yet (assume the newest).</param>
    public static CompressionPlan For(BackupFormat format, BackupCompression compression, int? level, int? pgDumpMajor)
    {
        if (compression == BackupCompression.None)
        {
            return new CompressionPlan(null, null, BackupCompression.None, null);
        }

        level ??= compression == BackupCompression.Zstd ? DefaultZstdLevel : null;

        // gzip as asked: pg_dump's own, the archive any pg_restore reads as stored.
        if (compression == BackupCompression.Gzip && format is BackupFormat.Custom or BackupFormat.Directory)
        {
            return new CompressionPlan("gzip", level, BackupCompression.None, null);
        }

        // zstd/lz4 inside pg_dump (16 and later know them) only for the directory format, where pg_dump -j runs the
        // compression in its n worker processes, one table file each. For the custom format the stream stage wins
        // by measurement: pg_dump compresses on the same thread that reads the rows, so its compression time adds
        // to the dump's (pg_dump -Fc, gzip: 18.8 s on 700 MB), while the stream stage runs concurrently and
        // multi-threaded (pg_dump -Fc -Z0 | zstd -1 -T2: 4.3 s; issue 10). Only pg_dump 15 is on the benchmark
        // machine, so pg_dump 16's native zstd was not timed; its cost is the same serial one.
        if (format == BackupFormat.Directory && pgDumpMajor is null or >= 16)
        {
            return new CompressionPlan(compression == BackupCompression.Zstd ? "zstd" : "lz4", level, BackupCompression.None, null);
        }

        return new CompressionPlan(null, null, compression, level);
    }
}
