using System.Diagnostics;
using PgBackup.Diagnostics;
using PgBackup.Errors;
using PgBackup.Artifacts;
using PgBackup.Storage;
using PgBackup.Streaming;

namespace PgBackup.Verification;

/// <summary>
/// One read of a backup's stored bytes: stored bytes → size/SHA-256 verification → decryption (when the backup
/// is encrypted and a key was given) → decompression (when PgBackup's stream stage compressed them) → <see cref="Dump"/>, which a consumer (pg_restore,
/// psql, or nobody) reads while the pass keeps the first bytes, scans a plain dump's comments and
/// reports progress. <see cref="FinishAsync"/> then reads whatever the consumer left, so the checksum
/// and the compression frames (and the encryption's integrity code) are always checked to the very end — in the
/// same pass. An encrypted backup read without a key is hashed only: <see cref="Dump"/> is then its ciphertext.
/// </summary>
internal sealed class ArtifactReadPass : IAsyncDisposable
{
    private readonly VerifyingReadStream _stored;
    private readonly Stream? _decrypted;
    private readonly Stream? _decompressor;
    private readonly ObservingStream _observer;
    private readonly BackupInfo _backup;
    private string? _decodeFailure;
    // Every decoding failure seen: a decoder asked again after a bad frame (the drain after pg_restore --list
    // gave up) throws a new exception for the same finding.
    private readonly HashSet<Exception> _decodeExceptions = new(ReferenceEqualityComparer.Instance);
    private long _bytesAfterCompressedEnd;
    private string? _decryptionFailure;
    private Exception? _decryptionException;

    private ArtifactReadPass(BackupInfo backup, VerifyingReadStream stored, Stream? decrypted, IProgress<OperationProgress>? progress, string activity)
    {
        _backup = backup;
        _stored = stored;
        _decrypted = decrypted;
        var readable = !backup.Encrypted || decrypted is not null;
        var plaintext = decrypted ?? stored;
        _decompressor = readable && backup.CompressionStage == CompressionStage.Stream ? CompressionStages.Decompress(plaintext, backup.Compression, leaveOpen: true) : null;
        Plain = readable && backup.Format == BackupFormat.Plain ? new PlainDumpScanner() : null;
        _observer = new ObservingStream(_decompressor ?? plaintext, this, progress, activity);
    }

    /// <summary>The encryption's integrity failure the read ran into (tampered or corrupt ciphertext), if any.</summary>
    public DecryptionFailedException? DecryptionFailure => _decryptionException as DecryptionFailedException;

    /// <summary>What pg_dump wrote, for the consumer to read.</summary>
    public Stream Dump => _observer;

    /// <summary>The comments of a plain dump seen so far; null for archives.</summary>
    public PlainDumpScanner? Plain { get; }

    /// <summary>The first <see cref="DumpHeader.Length"/> bytes of the dump (fewer if it is shorter).</summary>
    public ReadOnlySpan<byte> Head => _observer.Head;

    /// <summary>The failure a consumer's read ran into (checksum or decoding), for check details.</summary>
    public string? ReadFailure { get; private set; }

    /// <param name="decryption">
    /// Opens an encrypted backup; null reads its ciphertext only (hashed, not decoded). A key that does not fit, or
    /// <see cref="Encryption.OpenPgpDecryption.None"/>, throws here, before any consumer starts.
    /// </param>
    public static async Task<ArtifactReadPass> OpenAsync(IBackupRepository repository, BackupInfo backup, Encryption.OpenPgpDecryption? decryption, IProgress<OperationProgress>? progress, string activity, CancellationToken cancellationToken)
    {
        var stored = await BackupArtifactReader.OpenStoredAsync(repository, backup, cancellationToken).ConfigureAwait(false);
        try
        {
            var decrypted = backup.Encrypted && decryption is not null ? BackupArtifactReader.OpenDecrypted(stored, backup, decryption) : null;
            return new ArtifactReadPass(backup, stored, decrypted, progress, activity);
        }
        catch
        {
            await stored.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Runs <paramref name="consumer"/> on the dump. A corrupt or undecodable artifact is not an
    /// error here but an observation: it returns null and the checks report it.
    /// </summary>
    public async Task<T?> ConsumeAsync<T>(Func<Stream, Task<T>> consumer)
        where T : class
    {
        try
        {
            return await consumer(Dump).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsContentFailure(ex))
        {
            ReadFailure = ex.Message;
            return null;
        }
    }

    /// <summary>Reads the rest of the dump and then the rest of the stored bytes; returns what the read saw.</summary>
    public async Task<StoredReadOutcome> FinishAsync(CancellationToken cancellationToken)
    {
        try
        {
            await DrainAsync(Dump, cancellationToken).ConfigureAwait(false);
            Plain?.Complete();
        }
        catch (Exception ex) when (IsContentFailure(ex))
        {
            ReadFailure ??= ex.Message;
        }

        // The decompressor stops at the end of its data: the rest of the plaintext is read through the
        // integrity check (bytes there follow the compressed end), and the rest of the stored bytes through the hash.
        if (_decrypted is not null)
        {
            var plaintextBefore = _decrypted.Position;
            try
            {
                await DrainAsync(_decrypted, cancellationToken).ConfigureAwait(false);
            }
            catch (DecryptionFailedException ex)
            {
                _decryptionException ??= ex;
                _decryptionFailure ??= ex.Message;
            }

            if (_decompressor is not null && _decodeFailure is null)
            {
                _bytesAfterCompressedEnd = _decrypted.Position - plaintextBefore;
            }
        }

        var before = _stored.BytesRead;
        try
        {
            await _stored.DrainAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (BackupCorruptException)
        {
            // Size/hash mismatch: reported from the stream's state below.
        }

        if (_decrypted is null && _decompressor is not null && _decodeFailure is null)
        {
            _bytesAfterCompressedEnd = _stored.BytesRead - before;
        }

        return new StoredReadOutcome(_stored.BytesRead, _stored.ActualSha256, _decodeFailure, _bytesAfterCompressedEnd)
        {
            Decrypted = _decrypted is not null,
            DecryptionFailure = _decryptionFailure,
        };
    }

    public async ValueTask DisposeAsync()
    {
        if (_decompressor is not null)
        {
            await _decompressor.DisposeAsync().ConfigureAwait(false);
        }

        if (_decrypted is not null)
        {
            await _decrypted.DisposeAsync().ConfigureAwait(false);
        }

        await _stored.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>A verification or decoding failure of the content, as opposed to an I/O or tool failure.</summary>
    private bool IsContentFailure(Exception ex) => ex is BackupCorruptException || _decodeExceptions.Contains(ex) || ReferenceEquals(ex, _decryptionException);

    /// <summary>
    /// Called (as an exception filter, so it never catches) for failures of the decompressing read.
    /// Decoders report bad frames as InvalidDataException/ZstdException; an IOException is the
    /// repository failing to deliver bytes — an error of the test, not a finding about the backup.
    /// </summary>
    private bool NoteDecodeFailure(Exception ex)
    {
        if (_decrypted is not null && ex is DecryptionFailedException)
        {
            // The integrity code did not match (or the message broke): a finding about the backup.
            _decryptionException ??= ex;
            _decryptionFailure ??= ex.Message;
            if (!ReferenceEquals(ex, _decryptionException))
            {
                _decodeExceptions.Add(ex);
            }

            return false;
        }

        if (_decompressor is not null && ex is not (OperationCanceledException or PgBackupException or IOException))
        {
            _decodeExceptions.Add(ex);
            _decodeFailure ??= ex.Message;
        }

        return false;
    }

    private static async Task DrainAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 20);
        try
        {
            while (await stream.ReadAsync(buffer.AsMemory(0, 1 << 20), cancellationToken).ConfigureAwait(false) > 0)
            {
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Read-through stage that keeps the head, feeds the plain-dump scanner and reports progress.</summary>
    private sealed class ObservingStream(Stream inner, ArtifactReadPass pass, IProgress<OperationProgress>? progress, string activity) : ForwardOnlyReadStream
    {
        private readonly byte[] _head = new byte[DumpHeader.Length];
        private readonly Stopwatch _sinceReport = Stopwatch.StartNew();
        private int _headLength;

        public ReadOnlySpan<byte> Head => _head.AsSpan(0, _headLength);

        public override int Read(byte[] buffer, int offset, int count)
        {
            int read;
            try
            {
                read = inner.Read(buffer, offset, count);
            }
            catch (Exception ex) when (pass.NoteDecodeFailure(ex))
            {
                throw; // Never reached: the filter only takes note.
            }

            return Observe(buffer.AsSpan(offset, read));
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int read;
            try
            {
                read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (pass.NoteDecodeFailure(ex))
            {
                throw; // Never reached: the filter only takes note.
            }

            return Observe(buffer.Span[..read]);
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int Observe(ReadOnlySpan<byte> data)
        {
            if (_headLength < _head.Length)
            {
                var take = Math.Min(data.Length, _head.Length - _headLength);
                data[..take].CopyTo(_head.AsSpan(_headLength));
                _headLength += take;
            }

            pass.Plain?.Append(data);
            if (progress is not null && _sinceReport.Elapsed >= OperationProgress.ReportInterval)
            {
                var done = pass._stored.BytesRead;
                progress.Report(new OperationProgress(activity, "read", done, pass._backup.SizeBytes));
                _sinceReport.Restart();
            }

            return data.Length;
        }
    }
}
