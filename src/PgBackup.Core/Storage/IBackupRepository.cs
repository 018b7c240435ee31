namespace PgBackup.Storage;

/// <summary>An object in a repository, as listed (no content).</summary>
public sealed record RepositoryObject(string Key, long Size, DateTime LastModifiedUtc);

/// <summary>Facts about an artifact that a store may attach to it (S3 object metadata, say).</summary>
public sealed record ArtifactMetadata(string Database, DateTime CreatedAtUtc, string BackupType, string ToolVersion);

/// <summary>
/// An artifact being written. Bytes go to <see cref="Content"/>; nothing is visible under the
/// final key until <see cref="CommitAsync"/> succeeds. Disposing without committing aborts.
/// </summary>
public interface IArtifactUpload : IAsyncDisposable
{
    Stream Content { get; }

    /// <summary>Makes the artifact durable and visible under its key.</summary>
    Task CommitAsync(string sha256, long sizeBytes, CancellationToken cancellationToken);

    /// <summary>Removes whatever was written so far. Safe to call more than once.</summary>
    Task AbortAsync();
}

/// <summary>
/// Where backups live: a local folder, an S3 prefix or an Azure Blob container prefix. Keys are repository-relative and use '/'
/// (<c>YYYY/MM/DD/name.dump</c>), the same in every store.
/// </summary>
public interface IBackupRepository
{
    /// <summary>The repository as the user names it: a full folder path, s3://bucket/prefix, az://container/prefix or an Azure Blob URL.</summary>
    string Location { get; }

    /// <summary>
    /// The service endpoint this repository is reached through when <see cref="Location"/> alone does not
    /// say: a custom S3 endpoint, or the account's blob endpoint of an az:// location. Null for local
    /// folders, AWS itself and Azure URLs. Recorded on every BackupInfo so a piped object finds its repository again.
    /// </summary>
    string? Endpoint { get; }

    /// <summary>Full path or URI of one key, as shown to users.</summary>
    string GetObjectLocation(string key);

    /// <summary>Checks the repository can take new backups (creating a local folder if needed).</summary>
    Task EnsureWritableAsync(CancellationToken cancellationToken);

    /// <summary>Checks the repository exists, for read-only commands.</summary>
    Task EnsureExistsAsync(CancellationToken cancellationToken);

    Task<IArtifactUpload> BeginArtifactAsync(string key, ArtifactMetadata metadata, long? expectedSizeBytes, CancellationToken cancellationToken);

    /// <summary>Writes a small object atomically: readers see the whole old content or the whole new one.</summary>
    Task WriteSmallObjectAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken);

    Task<byte[]> ReadSmallObjectAsync(string key, CancellationToken cancellationToken);

    Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken);

    Task<bool> ExistsAsync(string key, CancellationToken cancellationToken);

    IAsyncEnumerable<RepositoryObject> ListAsync(string keyPrefix, CancellationToken cancellationToken);

    Task DeleteAsync(string key, CancellationToken cancellationToken);
}
