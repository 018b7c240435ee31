using PgBackup.Backup;

namespace PgBackup.Tests.Unit;

public class CompressionPlanTests
{
    [Theory]
    [InlineData(BackupFormat.Custom, BackupCompression.Gzip, 15, "gzip", BackupCompression.None)]
    [InlineData(BackupFormat.Custom, BackupCompression.Zstd, 16, "zstd", BackupCompression.None)]
    [InlineData(BackupFormat.Custom, BackupCompression.Zstd, 15, null, BackupCompression.Zstd)]
    [InlineData(BackupFormat.Custom, BackupCompression.Lz4, 15, null, BackupCompression.Lz4)]
    [InlineData(BackupFormat.Custom, BackupCompression.None, 15, null, BackupCompression.None)]
    [InlineData(BackupFormat.Plain, BackupCompression.Gzip, 17, null, BackupCompression.Gzip)]
    [InlineData(BackupFormat.Tar, BackupCompression.Zstd, 17, null, BackupCompression.Zstd)]
    [InlineData(BackupFormat.Tar, BackupCompression.None, 17, null, BackupCompression.None)]
    public void Chooses_who_compresses(BackupFormat format, BackupCompression compression, int pgDumpMajor, string? pgDumpMethod, BackupCompression streamStage)
    {
        var plan = CompressionPlan.For(format, compression, 5, pgDumpMajor);

        Assert.Equal(pgDumpMethod, plan.PgDumpMethod);
        Assert.Equal(streamStage, plan.StreamCompression);
        Assert.Equal(pgDumpMethod is not null ? CompressionStage.PgDump : streamStage != BackupCompression.None ? CompressionStage.Stream : CompressionStage.None, plan.Stage);
    }
}
