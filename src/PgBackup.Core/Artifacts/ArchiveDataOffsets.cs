using System.Buffers.Binary;

namespace PgBackup.Artifacts;

/// <summary>
/// Gives a custom-format archive that pg_dump wrote to a pipe the data offsets it writes into a file. pg_dump
/// records where each table's data starts by seeking back to its table of contents when the dump ends; on a pipe it
/// cannot, so every entry says "position not set" and <c>pg_restore -j</c> has to scan the archive for each table's
/// data (block by block, and with -Z0 a block is a row) — that scan made Restore-PgBackup 1.7× <c>pg_restore -j 2</c>
/// on a file. After the verified temporary copy is written, <see cref="Patch"/> walks its data blocks once and writes
/// each entry's offset in place, exactly as pg_dump does with <c>-f</c> (same field, same flag, same bytes).
/// Anything it does not fully understand (another format or version, a damaged TOC, a block that does not parse
/// to the end of the file) is left exactly as it was: pg_restore then scans, as before. <see cref="Compact"/>, what
/// a restore runs, also joins an uncompressed archive's row-sized chunks into large ones.
/// </summary>
/// <remarks>
/// The layout is pg_dump's (pg_backup_archiver.c WriteHead/WriteToc, pg_backup_custom.c): integers are a sign byte
/// and <c>intSize</c> bytes, least significant first; strings an integer length (-1: null) and the bytes; each TOC
/// entry of the custom format ends with its data offset (a flag byte, then <c>offSize</c> bytes); after the TOC come
/// the data blocks, each a type byte (1: table data, 3: large objects), the entry's dump id, then length-prefixed
/// chunks ending with a zero length (large objects: an OID before each object's chunks, a zero OID at the end).
/// </remarks>
internal static class ArchiveDataOffsets
{
    /// <summary>Archive versions whose header and TOC layout this reads: 1.12 (PostgreSQL 9.0) to 1.16 (PostgreSQL 17).</summary>
    private static readonly (int Major, int Minor) OldestVersion = (1, 12);
    private static readonly (int Major, int Minor) NewestVersion = (1, 16);

    private const byte CustomFormat = 1;
    private const byte OffsetNotSet = 1;
    private const byte OffsetSet = 2;
    private const byte OffsetNoData = 3;
    private const byte DataBlock = 1;
    private const byte LargeObjectsBlock = 3;

    /// <summary>An entry's offset field: where it is in the file, and what it says.</summary>
    internal readonly record struct OffsetField(int DumpId, long Position, byte Flag, long Offset);

    /// <summary>
    /// What the walk found: every TOC entry's offset field and where each entry's data block starts; the archive's
    /// integer size, whether its data is uncompressed, and where the data blocks begin (right after the TOC).
    /// </summary>
    internal sealed record Layout(int OffsetSize, IReadOnlyList<OffsetField> Entries, IReadOnlyDictionary<int, long> DataBlocks, int IntSize = 4, bool Uncompressed = false, long DataStart = 0);

    /// <summary>
    /// The chunk size <see cref="Compact"/> gathers rows into: large enough that pg_restore's per-chunk work (a read of
    /// the length, a read of the bytes, a call into libpq) disappears, small enough for the buffer pg_restore allocates.
    /// </summary>
    internal const int CompactChunkSize = 256 * 1024;

    /// <summary>
    /// Writes the data offsets into the custom archive at <paramref name="path"/>; returns how many entries it set
    /// (0 when there was nothing to set or the archive is not one it fully understands, which it leaves unchanged).
    /// </summary>
    public static int Patch(string path, CancellationToken cancellationToken)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, bufferSize: 0);
        var layout = Read(file, cancellationToken);
        return layout is null ? 0 : WriteOffsets(file, layout, layout.DataBlocks, OffsetNotSet);
    }

    /// <summary>
    /// What a restore does to its private copy: <see cref="Patch"/>, and for an uncompressed archive also gathers each
    /// table's row-sized chunks into chunks of up to <see cref="CompactChunkSize"/>. pg_dump -Z0 writes one chunk per
    /// row, and pg_restore reads and sends each on its own (millions of small reads and libpq calls for a large table);
    /// a chunk's bytes are COPY data that pg_restore passes on whole, so where they are cut does not matter.
    /// Large objects' blocks are kept as they are. Returns how many entries' offsets it wrote; anything it does not
    /// fully understand is left exactly as it was (0).
    /// </summary>
    public static int Compact(string path, CancellationToken cancellationToken)
    {
        // The whole archive is walked first: one that does not parse to its end is never half rewritten.
        Layout? layout;
        using (var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, bufferSize: 0))
        {
            layout = Read(file, cancellationToken);
            if (layout is null)
            {
                return 0;
            }

            if (!layout.Uncompressed)
            {
                // Compressed chunks are already large (pg_dump cuts them at its buffer size): only the offsets.
                return WriteOffsets(file, layout, layout.DataBlocks, OffsetNotSet);
            }
        }

        var moved = new Dictionary<int, long>();
        // Rewritten in place, front to back: a chunk header is written only where one was read (chunks are joined,
        // never split), so the writer never passes the reader and never overwrites a byte not yet read.
        using (var reading = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0))
        using (var writing = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 1 << 20))
        {
            var reader = new ArchiveReader(reading) { IntSize = layout.IntSize };
            reader.MoveTo(layout.DataStart);
            writing.Position = layout.DataStart;
            var writer = new ArchiveWriter(writing, layout.IntSize);
            var pending = new byte[CompactChunkSize];
            while (!reader.AtEnd)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var type = reader.ReadByte();
                var dumpId = reader.ReadInt();
                moved[(int)dumpId] = writing.Position;
                writing.WriteByte(type);
                writer.WriteInt(dumpId);
                if (type == DataBlock)
                {
                    var filled = 0;
                    long length;
                    while ((length = reader.ReadInt()) != 0)
                    {
                        if (filled + length > pending.Length && filled > 0)
                        {
                            writer.WriteChunk(pending.AsSpan(0, filled));
                            filled = 0;
                        }

                        if (length > pending.Length)
                        {
                            writer.CopyChunk(reader, length);
                            continue;
                        }

                        reader.ReadInto(pending.AsSpan(filled, (int)length));
                        filled += (int)length;
                    }

                    if (filled > 0)
                    {
                        writer.WriteChunk(pending.AsSpan(0, filled));
                    }

                    writer.WriteInt(0);
                }
                else
                {
                    long oid;
                    while ((oid = reader.ReadInt()) != 0)
                    {
                        writer.WriteInt(oid);
                        long length;
                        while ((length = reader.ReadInt()) != 0)
                        {
                            writer.CopyChunk(reader, length);
                        }

                        writer.WriteInt(0);
                    }

                    writer.WriteInt(0);
                }
            }

            writing.Flush();
            writing.SetLength(writing.Position);
        }

        using var patched = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, bufferSize: 0);
        return WriteOffsets(patched, layout, moved, OffsetNotSet, OffsetSet);
    }

    /// <summary>Writes <paramref name="blockStarts"/> into the offset fields of the entries whose flag is one of <paramref name="flags"/>.</summary>
    private static int WriteOffsets(FileStream file, Layout layout, IReadOnlyDictionary<int, long> blockStarts, params byte[] flags)
    {
        var field = new byte[1 + layout.OffsetSize];
        var patched = 0;
        foreach (var entry in layout.Entries)
        {
            if (!flags.Contains(entry.Flag) || !blockStarts.TryGetValue(entry.DumpId, out var offset))
            {
                continue;
            }

            field[0] = OffsetSet;
            WriteOffset(field.AsSpan(1), offset);
            file.Position = entry.Position;
            file.Write(field);
            patched++;
        }

        return patched;
    }

    /// <summary>Reads the archive's TOC and walks its data blocks to the end; null unless all of it parses.</summary>
    internal static Layout? Read(Stream archive, CancellationToken cancellationToken)
    {
        archive.Position = 0;
        var reader = new ArchiveReader(archive);
        try
        {
            return ReadLayout(reader, cancellationToken);
        }
        catch (InvalidDataException)
        {
            return null;
        }
        catch (EndOfStreamException)
        {
            return null;
        }
    }

    private static Layout? ReadLayout(ArchiveReader reader, CancellationToken cancellationToken)
    {
        // Header: magic, version, sizes, format (pg_backup_archiver.c ReadHead).
        if (!reader.ReadBytes(5).SequenceEqual("PGDMP"u8))
        {
            return null;
        }

        var version = (Major: (int)reader.ReadByte(), Minor: (int)reader.ReadByte());
        _ = reader.ReadByte(); // revision
        if (version.CompareTo(OldestVersion) < 0 || version.CompareTo(NewestVersion) > 0)
        {
            return null;
        }

        reader.IntSize = reader.ReadByte();
        var offsetSize = reader.ReadByte();
        if (reader.IntSize is < 1 or > 8 || offsetSize is < 1 or > 8 || reader.ReadByte() != CustomFormat)
        {
            return null;
        }

        // Uncompressed: algorithm 0 ("none", 1.15 and later), or compression level 0 before.
        var uncompressed = version.CompareTo((1, 15)) >= 0 ? reader.ReadByte() == 0 : reader.ReadInt() == 0;

        for (var i = 0; i < 7; i++)
        {
            _ = reader.ReadInt(); // creation time: sec, min, hour, day, month, year, isdst
        }

        reader.SkipString(); // database name
        reader.SkipString(); // server version
        reader.SkipString(); // pg_dump version

        // The TOC (ReadToc), each entry followed by the custom format's offset field (ReadExtraToc).
        var count = reader.ReadInt();
        if (count < 0 || count > reader.Length)
        {
            return null;
        }

        var entries = new List<OffsetField>((int)count);
        var ids = new HashSet<int>();
        for (var i = 0; i < count; i++)
        {
            var dumpId = reader.ReadInt();
            if (dumpId is <= 0 or > int.MaxValue || !ids.Add((int)dumpId))
            {
                return null;
            }

            _ = reader.ReadInt(); // had a data dumper
            reader.SkipString(); // table oid
            reader.SkipString(); // oid
            reader.SkipString(); // tag
            reader.SkipString(); // desc
            _ = reader.ReadInt(); // section
            reader.SkipString(); // defn
            reader.SkipString(); // drop statement
            reader.SkipString(); // copy statement
            reader.SkipString(); // namespace
            reader.SkipString(); // tablespace
            reader.SkipString(); // table access method (1.14)
            if (version.CompareTo((1, 16)) >= 0)
            {
                _ = reader.ReadInt(); // relkind
            }

            reader.SkipString(); // owner
            reader.SkipString(); // "false" (WITH OIDS)
            while (reader.SkipString())
            {
                // dependencies, ended by a null string
            }

            var position = reader.Position;
            var flag = reader.ReadByte();
            var offset = reader.ReadOffset(offsetSize);
            if (flag is not (OffsetNotSet or OffsetSet or OffsetNoData))
            {
                return null;
            }

            entries.Add(new OffsetField((int)dumpId, position, flag, offset));
        }

        // The data blocks, to the very end of the file.
        var dataStart = reader.Position;
        var blocks = new Dictionary<int, long>();
        while (!reader.AtEnd)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var start = reader.Position;
            var type = reader.ReadByte();
            var dumpId = reader.ReadInt();
            if (dumpId is <= 0 or > int.MaxValue || !ids.Contains((int)dumpId) || !blocks.TryAdd((int)dumpId, start))
            {
                return null;
            }

            switch (type)
            {
                case DataBlock:
                    reader.SkipChunks();
                    break;
                case LargeObjectsBlock:
                    while (reader.ReadInt() != 0)
                    {
                        reader.SkipChunks();
                    }

                    break;
                default:
                    return null;
            }
        }

        return new Layout(offsetSize, entries, blocks, reader.IntSize, uncompressed, dataStart);
    }

    private static void WriteOffset(Span<byte> field, long offset)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, offset);
        // pg_dump writes sizeof(pgoff_t) bytes, least significant first; a smaller offSize keeps the low bytes.
        bytes[..Math.Min(8, field.Length)].CopyTo(field);
        field[Math.Min(8, field.Length)..].Clear();
    }

    /// <summary>Sequential reads through one large buffer: a -Z0 archive has a chunk per row, so per-chunk seeks would dominate.</summary>
    private sealed class ArchiveReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[1 << 20];
        private int _start;
        private int _end;
        private long _bufferPosition;

        public int IntSize { get; set; } = 4;

        public long Length { get; } = stream.Length;

        public long Position => _bufferPosition + _start;

        public bool AtEnd => Position >= Length;

        public byte ReadByte()
        {
            if (_start == _end)
            {
                Fill();
            }

            return _buffer[_start++];
        }

        public byte[] ReadBytes(int count)
        {
            var bytes = new byte[count];
            for (var i = 0; i < count; i++)
            {
                bytes[i] = ReadByte();
            }

            return bytes;
        }

        /// <summary>Continues reading at <paramref name="position"/>.</summary>
        public void MoveTo(long position)
        {
            _bufferPosition = position;
            _start = _end = 0;
            stream.Position = position;
        }

        /// <summary>Reads exactly <paramref name="destination"/>'s length.</summary>
        public void ReadInto(Span<byte> destination)
        {
            while (!destination.IsEmpty)
            {
                if (_start == _end)
                {
                    Fill();
                }

                var count = Math.Min(destination.Length, _end - _start);
                _buffer.AsSpan(_start, count).CopyTo(destination);
                _start += count;
                destination = destination[count..];
            }
        }

        /// <summary>pg_dump's ReadInt: a sign byte, then <see cref="IntSize"/> bytes, least significant first.</summary>
        public long ReadInt()
        {
            var negative = ReadByte() != 0;
            long value = 0;
            for (var i = 0; i < IntSize; i++)
            {
                value |= (long)ReadByte() << (8 * i);
            }

            return negative ? -value : value;
        }

        public long ReadOffset(int size)
        {
            long value = 0;
            for (var i = 0; i < size; i++)
            {
                value |= (long)ReadByte() << (8 * i);
            }

            return value;
        }

        /// <summary>Skips a string; false for the null string (length -1).</summary>
        public bool SkipString()
        {
            var length = ReadInt();
            if (length < 0)
            {
                return length == -1 ? false : throw new InvalidDataException("negative string length");
            }

            Skip(length);
            return true;
        }

        /// <summary>Skips length-prefixed chunks up to and including the zero length that ends them.</summary>
        public void SkipChunks()
        {
            long length;
            while ((length = ReadInt()) != 0)
            {
                if (length < 0)
                {
                    throw new InvalidDataException("negative chunk length");
                }

                Skip(length);
            }
        }

        private void Skip(long count)
        {
            if (count > Length - Position)
            {
                throw new EndOfStreamException();
            }

            var inBuffer = _end - _start;
            if (count <= inBuffer)
            {
                _start += (int)count;
                return;
            }

            // Beyond the buffer: continue reading from there.
            _bufferPosition = Position + count;
            _start = _end = 0;
            stream.Position = _bufferPosition;
        }

        private void Fill()
        {
            _bufferPosition += _end;
            _start = 0;
            _end = stream.Read(_buffer, 0, _buffer.Length);
            if (_end == 0)
            {
                throw new EndOfStreamException();
            }
        }
    }

    /// <summary>pg_dump's WriteInt and chunks, for <see cref="Compact"/>.</summary>
    private sealed class ArchiveWriter(Stream stream, int intSize)
    {
        private readonly byte[] _copy = new byte[1 << 16];

        public void WriteInt(long value)
        {
            Span<byte> bytes = stackalloc byte[9];
            bytes[0] = value < 0 ? (byte)1 : (byte)0;
            var magnitude = Math.Abs(value);
            for (var i = 0; i < intSize; i++)
            {
                bytes[1 + i] = (byte)(magnitude >> (8 * i));
            }

            stream.Write(bytes[..(1 + intSize)]);
        }

        public void WriteChunk(ReadOnlySpan<byte> data)
        {
            WriteInt(data.Length);
            stream.Write(data);
        }

        /// <summary>Copies one chunk of <paramref name="length"/> bytes from <paramref name="reader"/> as it is.</summary>
        public void CopyChunk(ArchiveReader reader, long length)
        {
            WriteInt(length);
            while (length > 0)
            {
                var piece = _copy.AsSpan(0, (int)Math.Min(length, _copy.Length));
                reader.ReadInto(piece);
                stream.Write(piece);
                length -= piece.Length;
            }
        }
    }
}
