namespace PgBackup.Backup;

/// <summary>
/// Who compresses: pg_dump itself (custom format, methods it knows) so pg_restore reads the
/// archive natively, or PgBackup's stream stage (plain/tar output, or zstd/lz4 with a pg_dump
/// older than 16). Pure: unit-tested for every format × method × pg_dump version.
/// </summary>
internal sealed record CompressionPlan(string? PgDumpMethod, int? PgDumpLevel, BackupCompression StreamCompression, int? StreamLevel)
{
    /// <summary>Who compresses, as recorded in the manifest.</summary>
    public CompressionStage Stage => PgDumpMethod is not null ? CompressionStage.PgDump : StreamCompression != BackupCompression.None ? CompressionStage.Stream : CompressionStage.None;

    /// <param name="pgDumpMajor">null while pg_dump has not been located yet (assume the newest).</param>
    public static CompressionPlan For(BackupFormat format, BackupCompression compression, int? level, int? pgDumpMajor)
    {
        if (compression == BackupCompression.None)
        {
            return new CompressionPlan(null, null, BackupCompression.None, null);
        }

        if (format == BackupFormat.Custom)
        {
            if (compression == BackupCompression.Gzip)
            {
                return new CompressionPlan("gzip", level, BackupCompression.None, null);
            }

            if (pgDumpMajor is null or >= 16)
            {
                return new CompressionPlan(compression == BackupCompression.Zstd ? "zstd" : "lz4", level, BackupCompression.None, null);
            }
        }

        return new CompressionPlan(null, null, compression, level);
    }
}
