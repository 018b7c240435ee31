using System.Diagnostics;
using PgBackup.Diagnostics;

namespace PgBackup.Restore;

/// <summary>
/// Turns "bytes fed to pg_restore" into <see cref="OperationProgress"/>, synchronously (a
/// <see cref="Progress{T}"/> would post to the thread pool and could report after the restore
/// ended) and at most twice a second.
/// </summary>
internal sealed class RestoreProgress(IProgress<OperationProgress>? sink, string activity, string toolName, long? totalBytes) : IProgress<long>
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);
    private readonly Stopwatch _sinceLastReport = Stopwatch.StartNew();

    public void Report(long value)
    {
        if (sink is null || _sinceLastReport.Elapsed < Interval)
        {
            return;
        }

        _sinceLastReport.Restart();
        sink.Report(new OperationProgress(activity, $"fed to {toolName}", value, totalBytes));
    }
}
