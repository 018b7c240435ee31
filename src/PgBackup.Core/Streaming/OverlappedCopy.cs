using System.Buffers;

namespace PgBackup.Streaming;

/// <summary>
/// A copy that reads the next buffer while the previous one is being written. Where reading costs CPU (checking
/// the SHA-256 and decoding zstd on the way) and writing costs a system call per buffer, the two then run side by
/// side instead of one after the other, as in <c>zstd -dc x.dump.zst &gt; file</c>, whose writer is the kernel.
/// </summary>
internal static class OverlappedCopy
{
    public const int BufferSize = 1 << 20;

    /// <summary>
    /// Copies <paramref name="source"/> to its end into <paramref name="destination"/>. A failure of either side is
    /// thrown as it was raised (the same exception object), after the other side has stopped using its buffer.
    /// </summary>
    public static async Task CopyAsync(Stream source, Stream destination, CancellationToken cancellationToken)
    {
        var current = ArrayPool<byte>.Shared.Rent(BufferSize);
        var next = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            var read = await source.ReadAsync(current.AsMemory(0, BufferSize), cancellationToken).ConfigureAwait(false);
            while (read > 0)
            {
                var writing = destination.WriteAsync(current.AsMemory(0, read), cancellationToken).AsTask();
                Task<int> reading;
                try
                {
                    reading = source.ReadAsync(next.AsMemory(0, BufferSize), cancellationToken).AsTask();
                }
                catch
                {
                    // A read that failed before it returned a task: the write still owns its buffer until it ends.
                    await EndedAsync(writing).ConfigureAwait(false);
                    throw;
                }

                await WhenBothAsync(reading, writing).ConfigureAwait(false);
                read = reading.Result;
                (current, next) = (next, current);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(current);
            ArrayPool<byte>.Shared.Return(next);
        }
    }

    /// <summary>Waits for both; then throws the read's failure if it failed, else the write's.</summary>
    private static async Task WhenBothAsync(Task<int> reading, Task writing)
    {
        try
        {
            await reading.ConfigureAwait(false);
        }
        finally
        {
            // Also when the read failed: the buffers go back to the pool only once the write is done with its own.
            if (reading.IsCompletedSuccessfully)
            {
                await writing.ConfigureAwait(false);
            }
            else
            {
                await EndedAsync(writing).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Waits for a task whose failure, if any, is not the one to report (it is observed, not thrown).</summary>
    private static async Task EndedAsync(Task task)
    {
        await Task.WhenAny(task).ConfigureAwait(false);
        _ = task.Exception;
    }
}
