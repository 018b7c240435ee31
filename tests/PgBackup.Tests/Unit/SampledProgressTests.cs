using PgBackup.Diagnostics;

namespace PgBackup.Tests.Unit;

public class SampledProgressTests
{
    [Fact]
    public async Task Reports_every_sample_taken_while_the_work_runs_skips_the_missing_ones_and_stops_with_the_work()
    {
        var progress = new RecordingProgress();
        var samples = new Queue<long?>([null, 10, null, 25]);
        var lastTaken = new TaskCompletionSource();

        var result = await SampledProgress.WhileAsync(
            progress,
            _ =>
            {
                // Once the four are taken, a sample is always there: any report after the work ended would show.
                var sample = samples.Count > 0 ? samples.Dequeue() : 99;
                if (samples.Count == 0)
                {
                    lastTaken.TrySetResult();
                }

                return Task.FromResult(sample);
            },
            bytes => new OperationProgress("Working", "done", bytes, null),
            async () =>
            {
                // The work lasts until the sampler has taken all four samples, however slow the machine.
                await lastTaken.Task.WaitAsync(TimeSpan.FromMinutes(1));
                await WaitForReportsAsync(progress, 2);
                return 42;
            });

        Assert.Equal(42, result);
        var reported = progress.Reports.Select(report => report.BytesDone).ToList();
        Assert.Equal([10L, 25L], reported.Take(2));
        Assert.All(reported.Skip(2), bytes => Assert.Equal(99L, bytes));
        var count = progress.Reports.Count;
        await Task.Delay(OperationProgress.ReportInterval * 3);
        Assert.Equal(count, progress.Reports.Count);
    }

    [Fact]
    public async Task Without_a_progress_sink_nothing_is_sampled_and_a_failing_work_fails_as_itself()
    {
        var sampled = 0;
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => SampledProgress.WhileAsync<int>(
            null,
            _ => Task.FromResult<long?>(Interlocked.Increment(ref sampled)),
            bytes => new OperationProgress("Working", "done", bytes, null),
            async () =>
            {
                await Task.Delay(OperationProgress.ReportInterval * 3);
                throw new InvalidOperationException("the work failed");
            }));
        Assert.Equal("the work failed", error.Message);
        Assert.Equal(0, sampled);

        var progress = new RecordingProgress();
        error = await Assert.ThrowsAsync<InvalidOperationException>(() => SampledProgress.WhileAsync<int>(
            progress,
            _ => Task.FromResult<long?>(1),
            bytes => new OperationProgress("Working", "done", bytes, null),
            async () =>
            {
                await WaitForReportsAsync(progress, 1);
                throw new InvalidOperationException("the work failed while sampled");
            }));
        Assert.Equal("the work failed while sampled", error.Message);
    }

    private static async Task WaitForReportsAsync(RecordingProgress progress, int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (progress.Reports.Count < count && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
    }
}
