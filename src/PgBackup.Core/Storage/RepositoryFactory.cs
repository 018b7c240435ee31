using PgBackup.Errors;
using PgBackup.Storage.Azure;
using PgBackup.Storage.S3;

namespace PgBackup.Storage;

/// <summary>Turns what the user passed as -Repository into a store.</summary>
internal static class RepositoryFactory
{
    public const string RepositoryVariable = "PGBACKUP_REPOSITORY";

    /// <summary>
    /// Opens <paramref name="location"/>: <c>s3://bucket/prefix</c>, an Azure Blob location (<c>az://container/prefix</c>
    /// or an http(s) URL), or a local folder (already made absolute by the caller).
    /// </summary>
    /// <param name="s3Options">Endpoint, region and storage settings for S3 locations (ignored for others); null = defaults and environment.</param>
    /// <param name="azureOptions">Access tier, block size and remembered endpoint for Azure locations (ignored for others); null = defaults and environment.</param>
    public static IBackupRepository Open(string location, S3RepositoryOptions? s3Options = null, AzureRepositoryOptions? azureOptions = null)
    {
        if (string.IsNullOrWhiteSpace(location))
        {
            throw new InvalidBackupRequestException("The repository location is empty.");
        }

        RejectMalformedUri(location);
        if (S3Location.IsS3(location))
        {
            var options = s3Options ?? new S3RepositoryOptions();
            return new S3Repository(S3Location.Parse(location), options with { StorageClass = S3StorageClasses.Normalize(options.StorageClass) });
        }

        if (AzureBlobLocation.IsAzure(location))
        {
            return new AzureRepository(AzureBlobLocation.Parse(location), azureOptions ?? new AzureRepositoryOptions());
        }

        if (Uri.TryCreate(location, UriKind.Absolute, out var uri) && !uri.IsFile && uri.Scheme.Length > 1)
        {
            throw new PgBackupException("RepositoryNotSupported", FailureCategory.InvalidArgument, $"Unsupported repository scheme \"{uri.Scheme}\" in {location}; use a folder path, s3://bucket/prefix or az://container/prefix.", location);
        }

        return new LocalRepository(location);
    }

    /// <summary>
    /// InvalidRepository for a repository scheme written without its "//" (<c>s3:/bucket</c>, <c>az:container</c>,
    /// <c>https:/host</c>): PowerShell would take "s3:" for a drive and fail with DriveNotFound, or a folder
    /// called "s3:" would be made. Call before resolving a location as a path.
    /// </summary>
    public static void RejectMalformedUri(string location)
    {
        var colon = location.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || location.AsSpan(colon).StartsWith("://", StringComparison.Ordinal))
        {
            return;
        }

        var scheme = location[..colon];
        if (RepositorySchemes.Contains(scheme, StringComparer.OrdinalIgnoreCase))
        {
            throw new InvalidRepositoryException(
                $"\"{location}\" is not a repository URI: write {scheme.ToLowerInvariant()}:// with two slashes (s3://bucket/prefix, az://container/prefix, https://account.blob.core.windows.net/container/prefix).",
                location);
        }
    }

    private static readonly string[] RepositorySchemes = ["s3", "az", "http", "https"];

    /// <summary>
    /// Re-opens a repository a backup was read from (<see cref="BackupInfo.RepositoryDescriptor"/>): what the
    /// options leave open (S3 endpoint and region, the Azure account endpoint) comes from how it was reached then.
    /// </summary>
    public static IBackupRepository Open(RepositoryDescriptor descriptor, S3RepositoryOptions? s3Options = null, AzureRepositoryOptions? azureOptions = null)
        => Open(
            descriptor.Location,
            (s3Options ?? new S3RepositoryOptions()).CompletedBy(descriptor),
            (azureOptions ?? new AzureRepositoryOptions()).CompletedBy(descriptor));
}
