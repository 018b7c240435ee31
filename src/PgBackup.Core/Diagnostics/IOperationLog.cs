namespace PgBackup.Diagnostics;

/// <summary>Where core services narrate what they do; the cmdlet layer turns it into Write-Verbose/Write-Warning.</summary>
internal interface IOperationLog
{
    void Verbose(string message);

    void Warning(string message);
}

internal sealed class NullOperationLog : IOperationLog
{
    public static NullOperationLog Instance { get; } = new();

    public void Verbose(string message)
    {
    }

    public void Warning(string message)
    {
    }
}

/// <summary>Progress of a long operation, reported through <see cref="IProgress{T}"/>.</summary>
/// <param name="Activity">What is being done, e.g. "Backing up shop".</param>
/// <param name="Status">What the bytes are, after their size: "read from pg_dump", "fed to pg_restore". The cmdlet layer
/// writes the sizes (one unit style), the total and the rate around it.</param>
/// <param name="BytesDone">Bytes processed so far.</param>
/// <param name="BytesTotal">Expected total, when known (for a percentage).</param>
/// <param name="TotalIsEstimate">True when <paramref name="BytesTotal"/> is a guess (a database's size against pg_dump's
/// output), false when it is exact (a stored artifact's size).</param>
internal sealed record OperationProgress(string Activity, string Status, long BytesDone, long? BytesTotal, bool TotalIsEstimate = false)
{
    /// <summary>How often a long operation reports, counted or sampled: twice a second keeps a bar live and costs nothing.</summary>
    public static readonly TimeSpan ReportInterval = TimeSpan.FromMilliseconds(500);
}
