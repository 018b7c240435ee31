using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using PgBackup.Errors;

namespace PgBackup.Storage.S3;

/// <summary>Turns SDK and network failures into PgBackup's typed errors, with the repository as the target.</summary>
internal static class S3Errors
{
    public static bool IsNotFound(AmazonS3Exception ex) => ex.StatusCode == HttpStatusCode.NotFound;

    public static bool IsAccessDenied(AmazonS3Exception ex)
        => ex.StatusCode == HttpStatusCode.Forbidden || ex.ErrorCode is "AccessDenied" or "InvalidAccessKeyId" or "SignatureDoesNotMatch" or "ExpiredToken";

    /// <summary>Worth another attempt: a 5xx or 429 answer, or the connection broke.</summary>
    public static bool IsTransient(Exception ex) => ex switch
    {
        AmazonServiceException service when (int)service.StatusCode >= 500 || (int)service.StatusCode == 429 => true,
        _ => IsNetworkFailure(ex),
    };

    public static bool IsNetworkFailure(Exception ex) => NetworkFailure.IsNetworkFailure(ex);

    /// <param name="writing">Whether the failed call wrote (picks WriteFailed or ReadFailed for other errors).</param>
    public static PgBackupException Translate(Exception ex, S3Location repository, string? endpoint, string objectLocation, bool writing)
    {
        var where = endpoint is null ? repository.ToString() : $"{repository} at {endpoint}";
        switch (ex)
        {
            case PgBackupException typed:
                return typed;
            case AmazonS3Exception s3 when s3.ErrorCode == "NoSuchBucket" || (IsNotFound(s3) && objectLocation == repository.ToString()):
                return new RepositoryNotFoundException($"The S3 bucket \"{repository.Bucket}\" does not exist ({where}).", repository.ToString(), ex);
            case AmazonS3Exception s3 when IsAccessDenied(s3):
                return new RepositoryAccessDeniedException($"Access to {objectLocation} was denied ({s3.ErrorCode ?? s3.StatusCode.ToString()}): check the credentials and the bucket policy.", objectLocation, ex);
            case AmazonS3Exception s3 when s3.ErrorCode == "NoSuchKey" || IsNotFound(s3):
                return new RepositoryReadFailedException($"{objectLocation} does not exist.", objectLocation, ex);
            case AmazonClientException client when client.Message.Contains("credentials", StringComparison.OrdinalIgnoreCase):
                return new RepositoryAccessDeniedException($"No AWS credentials for {where}: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or use an instance role. ({client.Message})", repository.ToString(), ex);
            case not AmazonServiceException when IsNetworkFailure(ex):
                return new RepositoryUnreachableException($"Cannot reach the S3 endpoint for {where}: {NetworkFailure.Innermost(ex).Message}", repository.ToString(), ex);
            default:
                var message = $"S3 request for {objectLocation} failed: {ex.Message}";
                return writing
                    ? new RepositoryWriteFailedException(message, objectLocation, ex)
                    : new RepositoryReadFailedException(message, objectLocation, ex);
        }
    }
}
