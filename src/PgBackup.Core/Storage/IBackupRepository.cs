namespace PgBackup.Storage;

/// <summary>An object in a repository, as listed (no content).</summary>
internal sealed record RepositoryObject(string Key, long Size, DateTime LastModifiedUtc);

/// <summary>
/// Facts about a backup that a store may attach to its objects (S3 object metadata, say), given by the caller:
/// a store never reads them out of the content it is asked to write.
/// </summary>
/// <param name="Sha256">The stored bytes' SHA-256 when already known (a manifest, a single-part artifact).</param>
internal sealed record ArtifactMetadata(string Database, DateTime CreatedAtUtc, string BackupType, string ToolVersion, string? Sha256 = null);

/// <summary>
/// An artifact being written. Bytes go to <see cref="Content"/>; nothing is visible under the
/// final key until <see cref="CommitAsync"/> succeeds. Disposing without committing aborts.
/// </summary>
internal interface IArtifactUpload : IAsyncDisposable
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
internal interface IBackupRepository
{
    /// <summary>The repository as the user names it: a full folder path, s3://bucket/prefix, az://container/prefix or an Azure Blob URL.</summary>
    string Location { get; }

    /// <summary>
    /// The location plus whatever else the store needs to be reached again (never credentials): for S3 the
    /// endpoint and region, for an az:// location the account's blob endpoint. Recorded on every BackupInfo, and
    /// handed back to <see cref="RepositoryFactory.Open(RepositoryDescriptor, S3.S3RepositoryOptions?, Azure.AzureRepositoryOptions?)"/>,
    /// so a piped object finds its repository again.
    /// </summary>
    RepositoryDescriptor Descriptor { get; }

    /// <summary>Full path or URI of one key, as shown to users.</summary>
    string GetObjectLocation(string key);

    /// <summary>Checks the repository can take new backups (creating a local folder if needed).</summary>
    Task EnsureWritableAsync(CancellationToken cancellationToken);

    /// <summary>Checks the repository exists, for read-only commands.</summary>
    Task EnsureExistsAsync(CancellationToken cancellationToken);

    Task<IArtifactUpload> BeginArtifactAsync(string key, ArtifactMetadata metadata, long? expectedSizeBytes, CancellationToken cancellationToken);

    /// <summary>Writes a small object atomically: readers see the whole old content or the whole new one.</summary>
    /// <param name="metadata">What the store may attach to the object (a manifest's backup facts); null for none.</param>
    Task WriteSmallObjectAsync(string key, ReadOnlyMemory<byte> content, ArtifactMetadata? metadata, CancellationToken cancellationToken);

    Task<byte[]> ReadSmallObjectAsync(string key, CancellationToken cancellationToken);

    Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken);

    Task<bool> ExistsAsync(string key, CancellationToken cancellationToken);

    IAsyncEnumerable<RepositoryObject> ListAsync(string keyPrefix, CancellationToken cancellationToken);

    Task DeleteAsync(string key, CancellationToken cancellationToken);
}
