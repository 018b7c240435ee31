namespace PgBackup.Diagnostics;

/// <summary>
/// Progress of work PgBackup cannot count as it passes (pg_dump -Fd writing its folder, pg_restore filling a database
/// from a file it reads itself): a sample of what the work has produced, taken every
/// <see cref="OperationProgress.ReportInterval"/> while it runs. A long run otherwise shows a bar that never moves. A
/// sample that could not be taken (null) is skipped; sampling has stopped when the returned task completes.
/// </summary>
internal static class SampledProgress
{
    /// <summary>
    /// Runs <paramref name="work"/>; meanwhile reports <paramref name="describe"/>(sample) for every sample
    /// <paramref name="sample"/> returns (null: none this time).
    /// </summary>
    public static async Task<T> WhileAsync<T>(
        IProgress<OperationProgress>? progress,
        Func<CancellationToken, Task<long?>> sample,
        Func<long, OperationProgress> describe,
        Func<Task<T>> work)
    {
        if (progress is null)
        {
            return await work().ConfigureAwait(false);
        }

        using var stop = new CancellationTokenSource();
        var sampling = SampleAsync(progress, sample, describe, stop.Token);
        try
        {
            return await work().ConfigureAwait(false);
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await sampling.ConfigureAwait(false);
        }
    }

    /// <inheritdoc cref="WhileAsync{T}"/>
    public static Task WhileAsync(IProgress<OperationProgress>? progress, Func<CancellationToken, Task<long?>> sample, Func<long, OperationProgress> describe, Func<Task> work)
        => WhileAsync(
            progress,
            sample,
            describe,
            async () =>
            {
                await work().ConfigureAwait(false);
                return true;
            });

    private static async Task SampleAsync(IProgress<OperationProgress> progress, Func<CancellationToken, Task<long?>> sample, Func<long, OperationProgress> describe, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(OperationProgress.ReportInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                if (await sample(stop).ConfigureAwait(false) is { } value)
                {
                    progress.Report(describe(value));
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The work has ended: its caller reports what comes next.
        }
    }
}
