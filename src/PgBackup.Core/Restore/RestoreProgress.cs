using System.Diagnostics;
using PgBackup.Diagnostics;
using PgBackup.PgTools;
using PgBackup.Server;

namespace PgBackup.Restore;

/// <summary>
/// Turns "bytes fed to pg_restore" into <see cref="OperationProgress"/>, synchronously (a
/// <see cref="Progress{T}"/> would post to the thread pool and could report after the restore
/// ended) and at most twice a second.
/// </summary>
internal sealed class RestoreProgress(IProgress<OperationProgress>? sink, string activity, string toolName, long? totalBytes) : IProgress<long>
{
    private readonly Stopwatch _sinceLastReport = Stopwatch.StartNew();

    public void Report(long value)
    {
        if (sink is null || _sinceLastReport.Elapsed < OperationProgress.ReportInterval)
        {
            return;
        }

        _sinceLastReport.Restart();
        sink.Report(new OperationProgress(activity, $"fed to {toolName}", value, totalBytes));
    }

    /// <summary>The progress status while pg_restore fills a database from a file it reads itself ("1.2 GiB in the database").</summary>
    public const string DatabaseSizeStatus = "in the database";

    /// <summary>
    /// Runs <paramref name="restore"/> (a pg_restore that reads the archive itself: -j n, a directory dump's folder) while
    /// reporting the size of the database it fills; no total, the archive's size says little about tables and indexes.
    /// </summary>
    public static Task<PgRunOutcome> WhileFillingAsync(IProgress<OperationProgress>? sink, DatabaseAdmin admin, string database, string activity, Func<Task<PgRunOutcome>> restore)
        => SampledProgress.WhileAsync(
            sink,
            stop => admin.TrySizeAsync(database, stop),
            size => new OperationProgress(activity, DatabaseSizeStatus, size, null),
            restore);
}
