using Amazon.S3.Model;
using PgBackup.Errors;

namespace PgBackup.Storage.S3;

/// <summary>
/// An object's body as a forward-only stream that survives a broken connection: when the body
/// ends early or the connection resets, it asks again for the rest (a Range request pinned to the
/// same ETag, so a replaced object is an error rather than a splice). Restores of large backups
/// then do not start over because of one network blip.
/// </summary>
internal sealed class S3ObjectReadStream : Stream
{
    private const int MaxResumes = 5;

    private readonly S3Repository _repository;
    private readonly string _key;
    private readonly long _length;
    private readonly string _etag;
    private GetObjectResponse _response;
    private long _position;
    private int _resumes;

    private S3ObjectReadStream(S3Repository repository, string key, GetObjectResponse response)
    {
        _repository = repository;
        _key = key;
        _response = response;
        _length = response.ContentLength;
        _etag = response.ETag;
    }

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => _length;

    public override long Position
    {
        get => _position;
        set => throw new NotSupportedException();
    }

    public static async Task<Stream> OpenAsync(S3Repository repository, string key, CancellationToken cancellationToken)
    {
        var response = await repository.SendAsync(key, writing: false, ct => repository.Client.GetObjectAsync(new GetObjectRequest { BucketName = repository.S3.Bucket, Key = repository.ObjectKey(key) }, ct), cancellationToken).ConfigureAwait(false);
        return new S3ObjectReadStream(repository, key, response);
    }

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
                var read = await _response.ResponseStream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    throw new IOException($"The body ended after {_position} of {_length} bytes.");
                }

                _position += read;
                return read;
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Errors.IsNetworkFailure(ex) && _resumes < MaxResumes)
            {
                _resumes++;
                await ResumeAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested && S3Errors.IsNetworkFailure(ex))
            {
                throw new RepositoryReadFailedException($"Reading {_repository.GetObjectLocation(_key)} failed after {_resumes} resumed attempts: {ex.Message}", _repository.GetObjectLocation(_key), ex);
            }
        }
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _response.Dispose();
        }

        base.Dispose(disposing);
    }

    private async Task ResumeAsync(CancellationToken cancellationToken)
    {
        _response.Dispose();
        var request = new GetObjectRequest
        {
            BucketName = _repository.S3.Bucket,
            Key = _repository.ObjectKey(_key),
            ByteRange = new ByteRange(_position, _length - 1),
            EtagToMatch = _etag,
        };
        _response = await _repository.SendAsync(_key, writing: false, ct => _repository.Client.GetObjectAsync(request, ct), cancellationToken).ConfigureAwait(false);
    }
}
