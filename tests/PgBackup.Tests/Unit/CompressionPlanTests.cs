using PgBackup.Artifacts;
using PgBackup.Backup;

namespace PgBackup.Tests.Unit;

public class CompressionPlanTests
{
    [Theory]
    [InlineData(BackupFormat.Custom, BackupCompression.Gzip, 15, "gzip", BackupCompression.None)]
    [InlineData(BackupFormat.Custom, BackupCompression.Gzip, 17, "gzip", BackupCompression.None)]
    // Custom format: the stream stage compresses zstd/lz4 with every pg_dump (measured: pg_dump compresses serially with the dump).
    [InlineData(BackupFormat.Custom, BackupCompression.Zstd, 16, null, BackupCompression.Zstd)]
    [InlineData(BackupFormat.Custom, BackupCompression.Zstd, 15, null, BackupCompression.Zstd)]
    [InlineData(BackupFormat.Custom, BackupCompression.Lz4, 15, null, BackupCompression.Lz4)]
    [InlineData(BackupFormat.Custom, BackupCompression.None, 15, null, BackupCompression.None)]
    [InlineData(BackupFormat.Plain, BackupCompression.Gzip, 17, null, BackupCompression.Gzip)]
    [InlineData(BackupFormat.Tar, BackupCompression.Zstd, 17, null, BackupCompression.Zstd)]
    [InlineData(BackupFormat.Tar, BackupCompression.None, 17, null, BackupCompression.None)]
    // Directory format: pg_dump's n jobs compress in parallel, so pg_dump compresses what it knows (gzip; zstd/lz4 from 16).
    [InlineData(BackupFormat.Directory, BackupCompression.Gzip, 15, "gzip", BackupCompression.None)]
    [InlineData(BackupFormat.Directory, BackupCompression.Zstd, 16, "zstd", BackupCompression.None)]
    [InlineData(BackupFormat.Directory, BackupCompression.Lz4, 17, "lz4", BackupCompression.None)]
    [InlineData(BackupFormat.Directory, BackupCompression.Zstd, 15, null, BackupCompression.Zstd)]
    [InlineData(BackupFormat.Directory, BackupCompression.None, 17, null, BackupCompression.None)]
    public void Chooses_who_compresses(BackupFormat format, BackupCompression compression, int pgDumpMajor, string? pgDumpMethod, BackupCompression streamStage)
    {
        var plan = CompressionPlan.For(format, compression, 5, pgDumpMajor);

        Assert.Equal(pgDumpMethod, plan.PgDumpMethod);
        Assert.Equal(streamStage, plan.StreamCompression);
        Assert.Equal(pgDumpMethod is not null ? CompressionStage.PgDump : streamStage != BackupCompression.None ? CompressionStage.Stream : CompressionStage.None, plan.Stage);
    }

    [Fact]
    public void Zstd_defaults_to_level_1_and_gzip_to_pg_dumps_own_default()
    {
        Assert.Equal(1, CompressionPlan.For(BackupFormat.Custom, BackupCompression.Zstd, null, 15).StreamLevel);
        Assert.Equal(1, CompressionPlan.For(BackupFormat.Directory, BackupCompression.Zstd, null, 16).PgDumpLevel);
        Assert.Equal(19, CompressionPlan.For(BackupFormat.Custom, BackupCompression.Zstd, 19, 15).StreamLevel);
        Assert.Null(CompressionPlan.For(BackupFormat.Custom, BackupCompression.Gzip, null, 15).PgDumpLevel);
        Assert.Equal(BackupCompression.Zstd, new BackupRequest { Database = "d", Connection = new Connection.PgConnectionSettings(), Repository = null! }.Compression);
    }

    [Theory]
    [InlineData(BackupFormat.Custom, CompressionStage.Stream, BackupCompression.Zstd, 1, "zstd -dc './a.dump.zst' | pg_restore --exit-on-error --dbname=\"${PGDATABASE:?set PGDATABASE to the target database}\"")]
    [InlineData(BackupFormat.Custom, CompressionStage.PgDump, BackupCompression.Gzip, 1, "pg_restore --exit-on-error --dbname=\"${PGDATABASE:?set PGDATABASE to the target database}\" './a.dump'")]
    [InlineData(BackupFormat.Plain, CompressionStage.Stream, BackupCompression.Gzip, 1, "gzip -dc './a.dump.zst' | psql -X -v ON_ERROR_STOP=1 --single-transaction --dbname=\"${PGDATABASE:?set PGDATABASE to the target database}\"")]
    [InlineData(BackupFormat.Tar, CompressionStage.Stream, BackupCompression.Lz4, 1, "lz4 -dc './a.dump.zst' | pg_restore --exit-on-error --dbname=\"${PGDATABASE:?set PGDATABASE to the target database}\"")]
    [InlineData(BackupFormat.Directory, CompressionStage.PgDump, BackupCompression.Gzip, 2, "mkdir pgbackup-restore && cat './a.dump.zst' | tar -x -C pgbackup-restore && pg_restore --exit-on-error --jobs=2 --dbname=\"${PGDATABASE:?set PGDATABASE to the target database}\" pgbackup-restore && rm -r pgbackup-restore")]
    public void The_restore_hint_undoes_the_stream_stage_and_names_the_target_by_PGDATABASE(BackupFormat format, CompressionStage stage, BackupCompression compression, int jobs, string expected)
    {
        Assert.Equal(expected, RestoreHint.For(format, stage, compression, format == BackupFormat.Custom && stage == CompressionStage.PgDump ? "a.dump" : "a.dump.zst", jobs));
    }

    [Fact]
    public void The_restore_hint_quotes_a_hostile_artifact_name_for_the_shell()
    {
        var hint = RestoreHint.For(BackupFormat.Custom, CompressionStage.Stream, BackupCompression.Zstd, "-x'$(rm -rf ~)`id`.dump.zst", 1);

        Assert.StartsWith("zstd -dc './-x'\\''$(rm -rf ~)`id`.dump.zst' |", hint, StringComparison.Ordinal);
    }
}
