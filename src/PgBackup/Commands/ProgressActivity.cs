using System.Diagnostics;
using System.Management.Automation;
using PgBackup.Diagnostics;

namespace PgBackup.Commands;

/// <summary>
/// One operation's progress bar (one ActivityId), drawn from the core's <see cref="OperationProgress"/> reports:
/// sizes in one unit style (<see cref="ByteSize"/>), the rate since the current phase began, a total marked as an
/// estimate when it is one, a percentage that never claims 100 % before the end. Created by
/// <see cref="CmdletPipeline.StartProgress"/>, which writes the first record; disposing it writes the Completed record, so
/// a <c>using</c> ends the bar on every exit path (success, failure, cancellation, exception). A child (one database
/// of a multi-database run) names its parent's ActivityId.
/// </summary>
internal sealed class ProgressActivity : IProgress<OperationProgress>, IDisposable
{
    // Unique in the session: two cmdlets in one pipeline (New-PgBackup -Verify | Restore-PgBackup) draw separate bars.
    private static int _lastActivityId;

    private readonly Action<ProgressRecord> _write;
    private readonly int _parentActivityId;
    private readonly Stopwatch _phase = Stopwatch.StartNew();
    private string _activity;
    private string _status;
    private int _completed;

    public ProgressActivity(Action<ProgressRecord> write, string activity, ProgressActivity? parent)
    {
        _write = write;
        _activity = activity;
        _status = "Starting";
        _parentActivityId = parent?.ActivityId ?? -1;
        ActivityId = Interlocked.Increment(ref _lastActivityId) & int.MaxValue;
        _write(NewRecord(ProgressRecordType.Processing, -1));
    }

    public int ActivityId { get; }

    /// <summary>A core report: "<c>12.0 MiB read from pg_dump of about 40.0 MiB (estimate), 6.0 MiB/s</c>".</summary>
    public void Report(OperationProgress value)
    {
        if (!string.Equals(value.Activity, _activity, StringComparison.Ordinal))
        {
            // A new phase (verifying, then restoring): its rate starts again.
            _activity = value.Activity;
            _phase.Restart();
        }

        _status = Describe(value, _phase.Elapsed);
        _write(NewRecord(ProgressRecordType.Processing, Percent(value.BytesDone, value.BytesTotal)));
    }

    /// <summary>For a parent (a multi-database run): "<paramref name="status"/>", <paramref name="done"/> of <paramref name="total"/> items.</summary>
    public void ReportItems(string status, int done, int total)
    {
        _status = status;
        _write(NewRecord(ProgressRecordType.Processing, Percent(done, total)));
    }

    /// <summary>Writes the Completed record (once).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _completed, 1) == 0)
        {
            _write(NewRecord(ProgressRecordType.Completed, 100));
        }
    }

    /// <summary>The status line of a report, given how long its phase has run.</summary>
    public static string Describe(OperationProgress value, TimeSpan elapsed)
    {
        var text = $"{ByteSize.Format(value.BytesDone)} {value.Status}";
        if (value.BytesTotal is > 0 and var total)
        {
            text += value.TotalIsEstimate ? $" of about {ByteSize.Format(total)} (estimate)" : $" of {ByteSize.Format(total)}";
        }

        if (elapsed > TimeSpan.FromSeconds(0.2))
        {
            text += ", " + ByteSize.Format((long)(value.BytesDone / elapsed.TotalSeconds)) + "/s";
        }

        return text;
    }

    /// <summary>0–99 while running (an estimate can be passed, and only the Completed record says done); -1 with no total.</summary>
    public static int Percent(long done, long? total)
        => total is > 0 and var known ? (int)Math.Clamp(done * 100 / known, 0, 99) : -1;

    private ProgressRecord NewRecord(ProgressRecordType type, int percent)
        => new(ActivityId, _activity, _status)
        {
            ParentActivityId = _parentActivityId,
            PercentComplete = percent,
            RecordType = type,
        };
}
