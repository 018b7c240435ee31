using Amazon.S3.Model;

namespace PgBackup.Storage.S3;

/// <summary>
/// Opens an object's body as a <see cref="ResumableReadStream"/>: a dropped connection asks again
/// for the rest with a Range request pinned to the first response's ETag (If-Match).
/// </summary>
internal static class S3ObjectReadStream
{
    public static async Task<Stream> OpenAsync(S3Repository repository, string key, CancellationToken cancellationToken)
    {
        var bucket = repository.S3.Bucket;
        var objectKey = repository.ObjectKey(key);
        var response = await repository.SendAsync(key, writing: false, ct => repository.Client.GetObjectAsync(new GetObjectRequest { BucketName = bucket, Key = objectKey }, ct), cancellationToken).ConfigureAwait(false);
        var length = response.ContentLength;
        var etag = response.ETag;
        return new ResumableReadStream(
            response.ResponseStream,
            length,
            async (position, ct) =>
            {
                var request = new GetObjectRequest { BucketName = bucket, Key = objectKey, ByteRange = new ByteRange(position, length - 1), EtagToMatch = etag };
                var resumed = await repository.SendAsync(key, writing: false, c => repository.Client.GetObjectAsync(request, c), ct).ConfigureAwait(false);
                return resumed.ResponseStream;
            },
            S3Errors.IsNetworkFailure,
            ex => repository.Translate(ex, key, writing: false),
            repository.GetObjectLocation(key));
    }
}
