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

        if (S3Location.IsS3(location))
        {
            return new S3Repository(S3Location.Parse(location), s3Options ?? new S3RepositoryOptions());
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
    /// Re-opens a repository a backup was read from (<see cref="BackupInfo.RepositoryDescriptor"/>): what the
    /// options leave open (S3 endpoint and region, the Azure account endpoint) comes from how it was reached then.
    /// </summary>
    public static IBackupRepository Open(RepositoryDescriptor descriptor, S3RepositoryOptions? s3Options = null, AzureRepositoryOptions? azureOptions = null)
        => Open(
            descriptor.Location,
            (s3Options ?? new S3RepositoryOptions()).CompletedBy(descriptor),
            (azureOptions ?? new AzureRepositoryOptions()).CompletedBy(descriptor));
}
