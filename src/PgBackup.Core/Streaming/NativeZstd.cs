using System.Runtime.InteropServices;

namespace PgBackup.Streaming;

/// <summary>
/// The system's zstd library (libzstd, the one the <c>zstd</c> command uses), called through function pointers.
/// ZstdSharp is a managed port and about half as fast: on the benchmark's 2 cores it made the default backup
/// 1.20× the expert's <c>pg_dump | zstd -1 -T2</c>, native libzstd 1.06×. Where the library is absent (Windows,
/// macOS without it) <see cref="System"/> is null and <see cref="CompressionStages"/> falls back to ZstdSharp.
/// Both write and read standard zstd frames, so either side reads what the other wrote, and so does
/// <c>zstd -d</c>.
/// </summary>
internal sealed class NativeZstd
{
    /// <summary>Tried in order; the first that loads and exports every function is used.</summary>
    private static readonly string[] LibraryNames = ["libzstd.so.1", "libzstd.1.dylib", "libzstd.dll", "zstd.dll", "libzstd.so", "libzstd.dylib"];

    /// <summary>ZSTD_compressStream2 and its parameters are stable API from 1.4.0 on.</summary>
    private const uint MinimumVersion = 10400;

    private const int CompressionLevelParameter = 100; // ZSTD_c_compressionLevel
    private const int WorkersParameter = 400; // ZSTD_c_nbWorkers
    private const int ChecksumParameter = 201; // ZSTD_c_checksumFlag

    private static readonly Lazy<NativeZstd?> SystemLibrary = new(() => TryLoad(LibraryNames));

    private readonly unsafe delegate* unmanaged<nint> _createCCtx;
    private readonly unsafe delegate* unmanaged<nint, nuint> _freeCCtx;
    private readonly unsafe delegate* unmanaged<nint, int, int, nuint> _setParameter;
    private readonly unsafe delegate* unmanaged<nint, Buffer*, Buffer*, int, nuint> _compressStream2;
    private readonly unsafe delegate* unmanaged<nint> _createDCtx;
    private readonly unsafe delegate* unmanaged<nint, nuint> _freeDCtx;
    private readonly unsafe delegate* unmanaged<nint, Buffer*, Buffer*, nuint> _decompressStream;
    private readonly unsafe delegate* unmanaged<nuint, uint> _isError;
    private readonly unsafe delegate* unmanaged<nuint, byte*> _getErrorName;
    private readonly unsafe delegate* unmanaged<nint, nuint> _sizeofCCtx;
    private readonly unsafe delegate* unmanaged<nint, nuint> _sizeofDCtx;

    private unsafe NativeZstd(nint library)
    {
        _createCCtx = (delegate* unmanaged<nint>)NativeLibrary.GetExport(library, "ZSTD_createCCtx");
        _freeCCtx = (delegate* unmanaged<nint, nuint>)NativeLibrary.GetExport(library, "ZSTD_freeCCtx");
        _setParameter = (delegate* unmanaged<nint, int, int, nuint>)NativeLibrary.GetExport(library, "ZSTD_CCtx_setParameter");
        _compressStream2 = (delegate* unmanaged<nint, Buffer*, Buffer*, int, nuint>)NativeLibrary.GetExport(library, "ZSTD_compressStream2");
        _createDCtx = (delegate* unmanaged<nint>)NativeLibrary.GetExport(library, "ZSTD_createDCtx");
        _freeDCtx = (delegate* unmanaged<nint, nuint>)NativeLibrary.GetExport(library, "ZSTD_freeDCtx");
        _decompressStream = (delegate* unmanaged<nint, Buffer*, Buffer*, nuint>)NativeLibrary.GetExport(library, "ZSTD_decompressStream");
        _isError = (delegate* unmanaged<nuint, uint>)NativeLibrary.GetExport(library, "ZSTD_isError");
        _getErrorName = (delegate* unmanaged<nuint, byte*>)NativeLibrary.GetExport(library, "ZSTD_getErrorName");
        _sizeofCCtx = (delegate* unmanaged<nint, nuint>)NativeLibrary.GetExport(library, "ZSTD_sizeof_CCtx");
        _sizeofDCtx = (delegate* unmanaged<nint, nuint>)NativeLibrary.GetExport(library, "ZSTD_sizeof_DCtx");
    }

    /// <summary>The system's libzstd, or null when it is not installed (or too old).</summary>
    public static NativeZstd? System => SystemLibrary.Value;

    /// <summary>Loads the first of <paramref name="names"/> that is a usable libzstd; null when none is.</summary>
    public static unsafe NativeZstd? TryLoad(IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            if (!NativeLibrary.TryLoad(name, out var library))
            {
                continue;
            }

            try
            {
                if (!NativeLibrary.TryGetExport(library, "ZSTD_versionNumber", out var version)
                    || ((delegate* unmanaged<uint>)version)() < MinimumVersion)
                {
                    continue;
                }

                // The library stays loaded for the life of the process: the streams hold its function pointers.
                return new NativeZstd(library);
            }
            catch (EntryPointNotFoundException)
            {
                // A library of that name without the streaming API: try the next.
            }
        }

        return null;
    }

    /// <summary>A write-only stream that compresses into <paramref name="sink"/>; disposing it ends the frame.</summary>
    /// <param name="workers">zstd's worker threads (0: compress on the writing thread).</param>
    public Stream Compress(Stream sink, int level, int workers, bool leaveOpen) => new CompressingStream(this, sink, level, workers, leaveOpen);

    /// <summary>A read-only stream of what the zstd frames read from <paramref name="source"/> decode to.</summary>
    public Stream Decompress(Stream source, bool leaveOpen) => new DecompressingStream(this, source, leaveOpen);

    private unsafe nuint Check(nuint result)
    {
        if (_isError(result) != 0)
        {
            throw new InvalidDataException("zstd: " + Marshal.PtrToStringAnsi((nint)_getErrorName(result)));
        }

        return result;
    }

    /// <summary>ZSTD_inBuffer and ZSTD_outBuffer have the same layout: pointer, size, position.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private unsafe struct Buffer
    {
        public byte* Data;
        public nuint Size;
        public nuint Position;
    }

    private enum EndDirective
    {
        Continue = 0,
        Flush = 1,
        End = 2,
    }

    internal sealed class CompressingStream : ForwardOnlyWriteStream
    {
        private const int OutputSize = 1 << 17; // ZSTD_CStreamOutSize()

        private readonly NativeZstd _zstd;
        private readonly Stream _sink;
        private readonly bool _leaveOpen;
        private readonly byte[] _output = GC.AllocateUninitializedArray<byte>(OutputSize, pinned: true);
        private nint _context;

        public unsafe CompressingStream(NativeZstd zstd, Stream sink, int level, int workers, bool leaveOpen)
        {
            _zstd = zstd;
            _sink = sink;
            _leaveOpen = leaveOpen;
            _context = zstd._createCCtx();
            if (_context == 0)
            {
                throw new OutOfMemoryException("zstd could not allocate a compression context.");
            }

            try
            {
                zstd.Check(zstd._setParameter(_context, CompressionLevelParameter, level));
                // Each frame ends with its content's checksum, as the zstd command writes it: zstd -t and every
                // decoder then check the decoded bytes too, not only the stored ones (the manifest's SHA-256).
                zstd.Check(zstd._setParameter(_context, ChecksumParameter, 1));
                if (workers > 0)
                {
                    // A libzstd built without threads refuses this: it then compresses on the writing thread.
                    _ = zstd._setParameter(_context, WorkersParameter, workers);
                }
            }
            catch
            {
                _ = zstd._freeCCtx(_context);
                throw;
            }
        }

        /// <summary>The native memory the compression context holds now (its worker buffers included).</summary>
        public unsafe long ContextBytes => (long)_zstd._sizeofCCtx(_context);

        public override bool CanWrite => _context != 0;

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            var consumed = 0;
            do
            {
                var produced = Step(buffer, ref consumed, EndDirective.Continue, out _);
                _sink.Write(_output, 0, produced);
            }
            while (consumed < buffer.Length);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var consumed = 0;
            do
            {
                var produced = Step(buffer.Span, ref consumed, EndDirective.Continue, out _);
                if (produced > 0)
                {
                    await _sink.WriteAsync(_output.AsMemory(0, produced), cancellationToken).ConfigureAwait(false);
                }
            }
            while (consumed < buffer.Length);
        }

        public override void Flush()
        {
            Drain(EndDirective.Flush);
            _sink.Flush();
        }

        public override async Task FlushAsync(CancellationToken cancellationToken)
        {
            await DrainAsync(EndDirective.Flush, cancellationToken).ConfigureAwait(false);
            await _sink.FlushAsync(cancellationToken).ConfigureAwait(false);
        }

        protected override void Dispose(bool disposing)
        {
            if (_context == 0)
            {
                return;
            }

            try
            {
                if (disposing)
                {
                    Drain(EndDirective.End);
                    if (!_leaveOpen)
                    {
                        _sink.Dispose();
                    }
                }
            }
            finally
            {
                Free();
                base.Dispose(disposing);
            }
        }

        public override async ValueTask DisposeAsync()
        {
            if (_context == 0)
            {
                return;
            }

            try
            {
                await DrainAsync(EndDirective.End, CancellationToken.None).ConfigureAwait(false);
                if (!_leaveOpen)
                {
                    await _sink.DisposeAsync().ConfigureAwait(false);
                }
            }
            finally
            {
                // Also when the sink failed: the context (and zstd's worker threads) go with it.
                Free();
                GC.SuppressFinalize(this);
            }
        }

        private unsafe void Free()
        {
            _ = _zstd._freeCCtx(_context);
            _context = 0;
        }

        /// <summary>Writes out everything zstd holds (a flush, or the end of the frame).</summary>
        private void Drain(EndDirective directive)
        {
            var consumed = 0;
            nuint remaining;
            do
            {
                var produced = Step([], ref consumed, directive, out remaining);
                _sink.Write(_output, 0, produced);
            }
            while (remaining != 0);
        }

        private async Task DrainAsync(EndDirective directive, CancellationToken cancellationToken)
        {
            var consumed = 0;
            nuint remaining;
            do
            {
                var produced = Step([], ref consumed, directive, out remaining);
                if (produced > 0)
                {
                    await _sink.WriteAsync(_output.AsMemory(0, produced), cancellationToken).ConfigureAwait(false);
                }
            }
            while (remaining != 0);
        }

        /// <summary>One call of ZSTD_compressStream2: takes input from <paramref name="consumed"/> on, returns the bytes it put into the output buffer.</summary>
        private unsafe int Step(ReadOnlySpan<byte> input, ref int consumed, EndDirective directive, out nuint remaining)
        {
            ObjectDisposedException.ThrowIf(_context == 0, this);
            fixed (byte* source = input)
            fixed (byte* target = _output)
            {
                var inBuffer = new Buffer { Data = source, Size = (nuint)input.Length, Position = (nuint)consumed };
                var outBuffer = new Buffer { Data = target, Size = (nuint)_output.Length, Position = 0 };
                remaining = _zstd.Check(_zstd._compressStream2(_context, &outBuffer, &inBuffer, (int)directive));
                consumed = (int)inBuffer.Position;
                return (int)outBuffer.Position;
            }
        }
    }

    internal sealed class DecompressingStream : ForwardOnlyReadStream
    {
        private const int InputSize = 1 << 17; // ZSTD_DStreamInSize()

        private readonly NativeZstd _zstd;
        private readonly Stream _source;
        private readonly bool _leaveOpen;
        private readonly byte[] _input = GC.AllocateUninitializedArray<byte>(InputSize, pinned: true);
        private nint _context;
        private int _inputStart;
        private int _inputEnd;
        private bool _insideFrame;
        private bool _outputPending;

        public unsafe DecompressingStream(NativeZstd zstd, Stream source, bool leaveOpen)
        {
            _zstd = zstd;
            _source = source;
            _leaveOpen = leaveOpen;
            _context = zstd._createDCtx();
            if (_context == 0)
            {
                throw new OutOfMemoryException("zstd could not allocate a decompression context.");
            }
        }

        /// <summary>The native memory the decompression context holds now (its window included).</summary>
        public unsafe long ContextBytes => (long)_zstd._sizeofDCtx(_context);

        public override bool CanRead => _context != 0;

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            if (buffer.IsEmpty)
            {
                return 0;
            }

            while (true)
            {
                if (NeedsInput && !Refilled(_source.Read(_input, 0, _input.Length)))
                {
                    return 0;
                }

                var produced = Step(buffer);
                if (produced > 0)
                {
                    return produced;
                }
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (buffer.IsEmpty)
            {
                return 0;
            }

            while (true)
            {
                if (NeedsInput && !Refilled(await _source.ReadAsync(_input, cancellationToken).ConfigureAwait(false)))
                {
                    return 0;
                }

                var produced = Step(buffer.Span);
                if (produced > 0)
                {
                    return produced;
                }
            }
        }

        protected override unsafe void Dispose(bool disposing)
        {
            if (_context != 0)
            {
                _ = _zstd._freeDCtx(_context);
                _context = 0;
                if (disposing && !_leaveOpen)
                {
                    _source.Dispose();
                }
            }

            base.Dispose(disposing);
        }

        /// <summary>All input decoded, and the last call left no output behind in zstd.</summary>
        private bool NeedsInput => _inputStart == _inputEnd && !_outputPending;

        /// <summary>Takes <paramref name="read"/> new input bytes; false at the end of the source, which must also be the end of a frame.</summary>
        private bool Refilled(int read)
        {
            if (read > 0)
            {
                _inputStart = 0;
                _inputEnd = read;
                return true;
            }

            if (_insideFrame)
            {
                throw new InvalidDataException("zstd: the data ends inside a frame (truncated).");
            }

            return false;
        }

        private unsafe int Step(Span<byte> output)
        {
            ObjectDisposedException.ThrowIf(_context == 0, this);
            fixed (byte* source = _input)
            fixed (byte* target = output)
            {
                var inBuffer = new Buffer { Data = source, Size = (nuint)_inputEnd, Position = (nuint)_inputStart };
                var outBuffer = new Buffer { Data = target, Size = (nuint)output.Length, Position = 0 };
                var result = _zstd.Check(_zstd._decompressStream(_context, &outBuffer, &inBuffer));
                if (inBuffer.Position != (nuint)_inputStart || outBuffer.Position != 0)
                {
                    // Non-zero until a frame is decoded and fully flushed. A call that did nothing (asked for more
                    // output after a frame's end) answers with the next frame's header size: it changes nothing.
                    _insideFrame = result != 0;
                }

                _inputStart = (int)inBuffer.Position;
                // A full output buffer may leave decoded bytes inside zstd: they come out before more input goes in.
                _outputPending = outBuffer.Position == outBuffer.Size;
                return (int)outBuffer.Position;
            }
        }
    }
}
