using PgBackup.Errors;
using PgBackup.Streaming;

namespace PgBackup.Storage;

/// <summary>
/// An object's body as a forward-only stream that survives a broken connection: when the body
/// ends early or the connection resets, it asks the store again for the rest — a ranged request
/// pinned to the version first read (ETag, If-Match), so a replaced object is an error rather than
/// a splice. Restores of large backups then do not start over because of one network blip.
/// </summary>
internal sealed class ResumableReadStream : ForwardOnlyReadStream
{
    private const int MaxResumes = 5;

    private readonly Func<long, CancellationToken, Task<Stream>> _resumeAt;
    private readonly Func<Exception, bool> _isNetworkFailure;
    private readonly Func<Exception, PgBackupException> _translate;
    private readonly string _location;
    private readonly long _length;
    private Stream _body;
    private long _position;
    private int _resumes;

    /// <param name="body">The first response's body (the whole object).</param>
    /// <param name="length">The object's length, from that response.</param>
    /// <param name="resumeAt">Opens the body from an offset to the end, pinned to the first response's ETag.</param>
    /// <param name="isNetworkFailure">Which failures are worth resuming after.</param>
    /// <param name="translate">Turns any other failure of the body (an SDK's own retry giving up, say) into a typed error.</param>
    /// <param name="location">The object as users name it, for errors.</param>
    public ResumableReadStream(Stream body, long length, Func<long, CancellationToken, Task<Stream>> resumeAt, Func<Exception, bool> isNetworkFailure, Func<Exception, PgBackupException> translate, string location)
    {
        _body = body;
        _length = length;
        _resumeAt = resumeAt;
        _isNetworkFailure = isNetworkFailure;
        _translate = translate;
        _location = location;
    }

    public override long Length => _length;

    public override long Position => _position;

    /// <summary>How often the body was asked for again.</summary>
    public int Resumes => _resumes;

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_position >= _length || buffer.IsEmpty)
        {
            return 0;
        }

        while (true)
        {
            try
            {
                var read = await _body.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _length - _position)], cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new IOException($"The body ended after {_position} of {_length} bytes.");
                }

                _position += read;
                return read;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && _isNetworkFailure(ex) && _resumes < MaxResumes)
            {
                _resumes++;
                await _body.DisposeAsync().ConfigureAwait(false);
                _body = await _resumeAt(_position, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && _isNetworkFailure(ex))
            {
                throw new RepositoryReadFailedException($"Reading {_location} failed after {_resumes} resumed attempts: {ex.Message}", _location, ex);
            }
            catch (Exception ex) when (ex is not (PgBackupException or OperationCanceledException))
            {
                throw _translate(ex);
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _body.Dispose();
        }

        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await _body.DisposeAsync().ConfigureAwait(false);
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
