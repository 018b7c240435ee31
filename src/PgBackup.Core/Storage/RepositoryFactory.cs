using PgBackup.Errors;

namespace PgBackup.Storage;

/// <summary>Turns what the user passed as -Repository into a store.</summary>
public static class RepositoryFactory
{
    public const string RepositoryVariable = "PGBACKUP_REPOSITORY";

    /// <summary>Opens <paramref name="location"/>: <c>s3://bucket/prefix</c> or a local folder (already made absolute by the caller).</summary>
    public static IBackupRepository Open(string location)
    {
        if (string.IsNullOrWhiteSpace(location))
        {
            throw new InvalidBackupRequestException("The repository location is empty.");
        }

        if (location.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
        {
            throw new PgBackupException("RepositoryNotSupported", FailureCategory.NotImplemented, $"S3 repositories are not supported yet ({location}).", location);
        }

        if (Uri.TryCreate(location, UriKind.Absolute, out var uri) && !uri.IsFile && uri.Scheme.Length > 1)
        {
            throw new PgBackupException("RepositoryNotSupported", FailureCategory.InvalidArgument, $"Unsupported repository scheme \"{uri.Scheme}\" in {location}; use a folder path or s3://bucket/prefix.", location);
        }

        return new LocalRepository(location);
    }
}
