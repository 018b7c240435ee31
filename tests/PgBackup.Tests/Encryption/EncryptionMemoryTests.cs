using PgBackup.Encryption;
using PgBackup.Streaming;
using static PgBackup.Tests.Encryption.EncryptionTestData;

namespace PgBackup.Tests.Encryption;

/// <summary>Measured alone: the managed heap is the process's, so no other test may allocate meanwhile.</summary>
[CollectionDefinition(nameof(EncryptionMemoryTests), DisableParallelization = true)]
public sealed class EncryptionMemoryCollection;

/// <summary>
/// Memory stays flat while 64 MB stream through the stages: the live heap with a stage open (after a full collection)
/// is the same after 64 MB as after 8 MB, and a few fixed buffers above the heap before the stage. BouncyCastle does
/// allocate short-lived buffers per chunk (garbage at once); what must not happen is anything growing with the data.
/// </summary>
[Collection(nameof(EncryptionMemoryTests))]
public class EncryptionMemoryTests
{
    private const long Size = 64L * 1024 * 1024;
    private const long Checkpoint = 8L * 1024 * 1024;

    /// <summary>The stage's fixed buffers (two 64 KiB chunk buffers, the ciphertext buffer, the cipher) with room to spare.</summary>
    private const long MaximumStageBytes = 2L * 1024 * 1024;

    /// <summary>Heap noise between two full collections (JIT, runner bookkeeping).</summary>
    private const long MaximumGrowthBytes = 512L * 1024;

    [Fact]
    public async Task Encrypting_64_MB_keeps_the_live_heap_flat()
    {
        using var passphrase = PassphraseOf(TestPassphrase);
        using var encryption = OpenPgpEncryption.ForPassphrase(passphrase, FastS2kCount);
        var piece = Random(1024 * 1024);
        var sink = new CountingSink();

        var baseline = LiveHeap();
        long atCheckpoint = 0;
        long atEnd = 0;
        await using (var encrypting = encryption.Encrypt(sink))
        {
            for (long written = 0; written < Size; written += piece.Length)
            {
                await encrypting.WriteAsync(piece);
                if (written + piece.Length == Checkpoint)
                {
                    atCheckpoint = LiveHeap();
                }
            }

            atEnd = LiveHeap();
        }

        Assert.True(sink.Bytes > Size, $"Only {sink.Bytes:N0} bytes reached the destination.");
        AssertFlat(baseline, atCheckpoint, atEnd);
    }

    [Fact]
    public async Task Decrypting_64_MB_keeps_the_live_heap_flat()
    {
        using var passphrase = PassphraseOf(TestPassphrase);
        using var encryption = OpenPgpEncryption.ForPassphrase(passphrase, FastS2kCount);
        var ciphertext = new MemoryStream();
        await using (var encrypting = encryption.Encrypt(ciphertext, leaveOpen: true))
        {
            var piece = Random(1024 * 1024);
            for (long written = 0; written < Size; written += piece.Length)
            {
                await encrypting.WriteAsync(piece);
            }
        }

        using var decryption = OpenPgpDecryption.ForPassphrase(passphrase);
        ciphertext.Position = 0;
        var buffer = new byte[81920];
        var baseline = LiveHeap();
        long atCheckpoint = 0;
        long atEnd;
        long total = 0;
        using (var plain = decryption.Decrypt(ciphertext, leaveOpen: true))
        {
            int read;
            while ((read = plain.Read(buffer)) > 0)
            {
                if (total < Checkpoint && total + read >= Checkpoint)
                {
                    atCheckpoint = LiveHeap();
                }

                total += read;
            }

            atEnd = LiveHeap();
        }

        Assert.Equal(Size, total);
        AssertFlat(baseline, atCheckpoint, atEnd);
    }

    private static long LiveHeap() => GC.GetTotalMemory(forceFullCollection: true);

    private static void AssertFlat(long baseline, long atCheckpoint, long atEnd)
    {
        var message = $"Live heap: {baseline:N0} before, {atCheckpoint:N0} after 8 MB, {atEnd:N0} after 64 MB.";
        Assert.True(atCheckpoint - baseline < MaximumStageBytes, message);
        Assert.True(atEnd - atCheckpoint < MaximumGrowthBytes, message);
    }

    /// <summary>A destination that keeps nothing, so the heap shows only the stage.</summary>
    private sealed class CountingSink : ForwardOnlyWriteStream
    {
        public long Bytes { get; private set; }

        public override long Length => Bytes;

        public override long Position => Bytes;

        public override void Flush()
        {
        }

        public override void Write(byte[] buffer, int offset, int count) => Bytes += count;

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Bytes += buffer.Length;
            return ValueTask.CompletedTask;
        }
    }
}
