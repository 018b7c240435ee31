using System.Collections.Concurrent;
using PgBackup.Diagnostics;

namespace PgBackup.Tests;

/// <summary>Records progress reports as they are made, on the reporting thread (Progress&lt;T&gt; would post them later, in any order).</summary>
internal sealed class RecordingProgress : IProgress<OperationProgress>
{
    public ConcurrentQueue<OperationProgress> Reports { get; } = new();

    public void Report(OperationProgress value) => Reports.Enqueue(value);

    /// <summary>Waits (up to a minute) for a report with <paramref name="status"/>; false if none came.</summary>
    public async Task<bool> WaitForAsync(string status)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (!Reports.Any(report => report.Status == status))
        {
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }

            await Task.Delay(50);
        }

        return true;
    }
}
