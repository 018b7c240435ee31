using PgBackup.Streaming;

namespace PgBackup.Tests.Unit;

/// <summary>The copy that reads the next buffer while the previous one is written.</summary>
public class OverlappedCopyTests
{
    [Fact]
    public async Task Copies_every_byte_in_order_whatever_the_read_sizes()
    {
        var data = new byte[5 * OverlappedCopy.BufferSize + 12345];
        new Random(3).NextBytes(data);
        using var destination = new MemoryStream();

        await OverlappedCopy.CopyAsync(new TrickleStream(data, 300_007), destination, CancellationToken.None);

        Assert.Equal(data, destination.ToArray());
    }

    /// <summary>
    /// The source's second read waits until the first write has started, and that write waits until the second read
    /// has started: a copy that reads and writes in turn never gets there.
    /// </summary>
    [Fact]
    public async Task The_next_read_runs_while_the_previous_buffer_is_written()
    {
        var secondReadStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstWriteStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var source = new HandshakeSource(secondReadStarted, firstWriteStarted);
        var destination = new HandshakeSink(firstWriteStarted, secondReadStarted);

        await OverlappedCopy.CopyAsync(source, destination, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(2, destination.Writes);
    }

    [Fact]
    public async Task A_failed_read_is_thrown_as_raised_once_the_write_in_flight_has_ended()
    {
        var failure = new InvalidDataException("bad frame");
        var sink = new SlowSink();

        var thrown = await Assert.ThrowsAsync<InvalidDataException>(() => OverlappedCopy.CopyAsync(new FailingSecondRead(failure), sink, CancellationToken.None));

        Assert.Same(failure, thrown);
        Assert.True(sink.WriteEnded);
    }

    private abstract class ReadOnly : ForwardOnlyReadStream
    {
        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();
    }

    private sealed class TrickleStream(byte[] data, int maxRead) : ReadOnly
    {
        private int _position;

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var count = Math.Min(Math.Min(buffer.Length, maxRead), data.Length - _position);
            data.AsMemory(_position, count).CopyTo(buffer);
            _position += count;
            return ValueTask.FromResult(count);
        }
    }

    private sealed class HandshakeSource(TaskCompletionSource secondReadStarted, TaskCompletionSource firstWriteStarted) : ReadOnly
    {
        private int _reads;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            switch (++_reads)
            {
                case 1:
                    return 10;
                case 2:
                    secondReadStarted.SetResult();
                    await firstWriteStarted.Task;
                    return 10;
                default:
                    return 0;
            }
        }
    }

    private sealed class HandshakeSink(TaskCompletionSource firstWriteStarted, TaskCompletionSource secondReadStarted) : MemoryStream
    {
        public int Writes { get; private set; }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (++Writes == 1)
            {
                firstWriteStarted.SetResult();
                await secondReadStarted.Task;
            }
        }
    }

    private sealed class FailingSecondRead(Exception failure) : ReadOnly
    {
        private int _reads;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (++_reads == 1)
            {
                return 100;
            }

            await Task.Yield();
            throw failure;
        }
    }

    private sealed class SlowSink : MemoryStream
    {
        public bool WriteEnded { get; private set; }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Delay(200, cancellationToken);
            WriteEnded = true;
        }
    }
}
