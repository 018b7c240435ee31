using Azure;
using Azure.Identity;
using PgBackup.Diagnostics;
using PgBackup.Errors;

namespace PgBackup.Storage.Azure;

/// <summary>Turns Azure SDK and network failures into PgBackup's typed errors, with the repository as the target.</summary>
internal static class AzureErrors
{
    private static readonly HashSet<string> AccessDeniedCodes = new(StringComparer.Ordinal)
    {
        "AuthenticationFailed", "AuthorizationFailure", "AuthorizationPermissionMismatch", "AuthorizationResourceTypeMismatch",
        "AuthorizationServiceMismatch", "AuthorizationSourceIPMismatch", "AuthorizationProtocolMismatch",
        "InsufficientAccountPermissions", "NoAuthenticationInformation", "InvalidAuthenticationInfo", "KeyBasedAuthenticationNotPermitted",
    };

    public static bool IsNotFound(RequestFailedException ex) => ex.Status == 404;

    public static bool IsAccessDenied(RequestFailedException ex) => ex.Status is 401 or 403 || (ex.ErrorCode is { } code && AccessDeniedCodes.Contains(code));

    /// <summary>Authenticated, but the identity may not do this (a write-only SAS asked to list, say).</summary>
    public static bool IsPermissionMismatch(RequestFailedException ex) => ex.ErrorCode is "AuthorizationPermissionMismatch" or "AuthorizationResourceTypeMismatch";

    /// <summary>Worth another attempt: a 5xx, 408 or 429 answer, a body the service saw corrupted, or the connection broke.</summary>
    public static bool IsTransient(Exception ex) => ex switch
    {
        RequestFailedException request when request.Status is >= 500 or 408 or 429 => true,
        RequestFailedException request when request.ErrorCode is "Md5Mismatch" or "Crc64Mismatch" => true,
        RequestFailedException { Status: not 0 } => false,
        _ => NetworkFailure.IsNetworkFailure(ex),
    };

    /// <param name="where">The repository and, for az://, the endpoint: "az://c/p at https://acct.blob.core.windows.net".</param>
    /// <param name="writing">Whether the failed call wrote (picks WriteFailed or ReadFailed for other errors).</param>
    /// <param name="connection">The credentials in use (named in access errors; their secrets are masked), when known.</param>
    public static PgBackupException Translate(Exception ex, AzureBlobLocation repository, string where, string objectLocation, bool writing, AzureConnection? connection)
    {
        var redactor = new SecretRedactor(connection?.Secrets ?? []);
        var using_ = connection is null ? string.Empty : $" using {connection.DescribeSource()}";
        switch (ex)
        {
            case PgBackupException typed:
                return typed;
            case RequestFailedException request when request.ErrorCode == "ContainerNotFound" || (IsNotFound(request) && objectLocation == repository.ToString()):
                return new RepositoryNotFoundException($"The Azure container \"{repository.Container}\" does not exist ({where}).", repository.ToString(), ex);
            case RequestFailedException request when IsAccessDenied(request):
                return new RepositoryAccessDeniedException(
                    $"Access to {objectLocation} was denied ({Code(request)}){using_}: check the credentials and the container's role assignments or SAS permissions.", objectLocation, ex);
            case RequestFailedException request when request.ErrorCode == "BlobArchived":
                return new RepositoryReadFailedException(
                    $"{objectLocation} is in the Archive tier and cannot be read until it is rehydrated (e.g. az storage blob set-tier --tier Cool), which takes hours.", objectLocation, ex);
            case RequestFailedException { ErrorCode: "ConditionNotMet" } when !writing:
                return new RepositoryReadFailedException($"{objectLocation} was replaced while it was being read: read it again.", objectLocation, ex);
            case RequestFailedException request when request.ErrorCode == "BlobNotFound" || IsNotFound(request):
                return new RepositoryReadFailedException($"{objectLocation} does not exist.", objectLocation, ex);
            case global::Azure.Identity.AuthenticationFailedException or CredentialUnavailableException:
                return new RepositoryAccessDeniedException(
                    $"No usable Azure credentials for {where}: set {AzureConnectionResolver.ConnectionStringVariable}, {AzureConnectionResolver.SasTokenVariable} or {AzureConnectionResolver.AccountVariable} + {AzureConnectionResolver.KeyVariable}, " +
                    $"or sign in (managed identity, workload identity, az login). ({redactor.Redact(FirstLine(ex.Message))})",
                    repository.ToString(),
                    ex);
            case RequestFailedException { Status: not 0 } request:
                return Failed(writing, $"Azure request for {objectLocation} failed ({Code(request)}): {redactor.Redact(FirstLine(request.Message))}", objectLocation, ex);
            case var _ when NetworkFailure.IsNetworkFailure(ex):
                return new RepositoryUnreachableException($"Cannot reach the Azure Blob endpoint for {where}: {redactor.Redact(NetworkFailure.Innermost(ex).Message)}", repository.ToString(), ex);
            default:
                return Failed(writing, $"Azure request for {objectLocation} failed: {redactor.Redact(FirstLine(ex.Message))}", objectLocation, ex);
        }
    }

    private static PgBackupException Failed(bool writing, string message, string objectLocation, Exception ex)
        => writing ? new RepositoryWriteFailedException(message, objectLocation, ex) : new RepositoryReadFailedException(message, objectLocation, ex);

    private static string Code(RequestFailedException ex) => ex.ErrorCode is { Length: > 0 } code ? $"{ex.Status} {code}" : ex.Status.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The service's own sentence, without the request id, headers and response body the SDK appends.</summary>
    private static string FirstLine(string message) => message.Split('\n', 2)[0].Trim();
}
