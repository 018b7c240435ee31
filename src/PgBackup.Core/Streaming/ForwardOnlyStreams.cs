namespace PgBackup.Streaming;

/// <summary>
/// The base of every read stage of the pipelines (decrypt, decompress, verify, resume, observe). Pipeline stages are
/// forward-only: bytes pass once, in one direction, so seeking, setting a length or writing into a reader is a bug
/// and throws, here, once. A stage overrides only what it does: Read (and ReadAsync), and the Position or Length it
/// can honestly report (a getter only: setting either stays unsupported).
/// </summary>
internal abstract class ForwardOnlyReadStream : Stream
{
    public override bool CanRead => true;

    public sealed override bool CanSeek => false;

    public sealed override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    /// <summary>A reader holds nothing that is still to be written.</summary>
    public sealed override void Flush()
    {
    }

    public sealed override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public sealed override void SetLength(long value) => throw new NotSupportedException();

    public sealed override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>
/// The base of every write stage of the pipelines (compress, encrypt, hash, chunk, upload parts). Pipeline stages are
/// forward-only: bytes pass once, in one direction, so seeking, setting a length or reading from a writer is a bug and
/// throws, here, once. A stage overrides only what it does: Write (and WriteAsync), Flush (each stage says what
/// flushing means for it), and the Position or Length it can honestly report (a getter only).
/// </summary>
internal abstract class ForwardOnlyWriteStream : Stream
{
    public sealed override bool CanRead => false;

    public sealed override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public sealed override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public sealed override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public sealed override void SetLength(long value) => throw new NotSupportedException();
}
