using PgBackup.Errors;
using PgBackup.Storage.S3;

namespace PgBackup.Storage;

/// <summary>Turns what the user passed as -Repository into a store.</summary>
internal static class RepositoryFactory
{
    public const string RepositoryVariable = "PGBACKUP_REPOSITORY";

    /// <summary>Opens <paramref name="location"/>: <c>s3://bucket/prefix</c> or a local folder (already made absolute by the caller).</summary>
    /// <param name="s3Options">Endpoint, region and storage settings for S3 locations (ignored for folders); null = defaults and environment.</param>
    public static IBackupRepository Open(string location, S3RepositoryOptions? s3Options = null)
    {
        if (string.IsNullOrWhiteSpace(location))
        {
            throw new InvalidBackupRequestException("The repository location is empty.");
        }

        if (S3Location.IsS3(location))
        {
            return new S3Repository(S3Location.Parse(location), s3Options ?? new S3RepositoryOptions());
        }

        if (Uri.TryCreate(location, UriKind.Absolute, out var uri) && !uri.IsFile && uri.Scheme.Length > 1)
        {
            throw new PgBackupException("RepositoryNotSupported", FailureCategory.InvalidArgument, $"Unsupported repository scheme \"{uri.Scheme}\" in {location}; use a folder path or s3://bucket/prefix.", location);
        }

        return new LocalRepository(location);
    }

    /// <summary>
    /// Re-opens a repository a backup was read from (<see cref="BackupInfo.RepositoryDescriptor"/>): what
    /// <paramref name="options"/> leave open (endpoint, region) comes from how it was reached then.
    /// </summary>
    public static IBackupRepository Open(RepositoryDescriptor descriptor, S3RepositoryOptions? options = null)
        => Open(descriptor.Location, (options ?? new S3RepositoryOptions()).CompletedBy(descriptor));
}
