using PgBackup.Errors;

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

    /// <summary>Starts an artifact under a key that must be free: <see cref="RepositoryObjectExistsException"/> when it is taken, then or at commit.</summary>
    Task<IArtifactUpload> BeginArtifactAsync(string key, ArtifactMetadata metadata, long? expectedSizeBytes, CancellationToken cancellationToken);

    /// <summary>
    /// Creates a small object atomically (readers see all of it or nothing), never replacing one: when the key is
    /// taken, throws <see cref="RepositoryObjectExistsException"/> and leaves what is there untouched.
    /// </summary>
    /// <param name="metadata">What the store may attach to the object (a manifest's backup facts); null for none.</param>
    Task WriteSmallObjectAsync(string key, ReadOnlyMemory<byte> content, ArtifactMetadata? metadata, CancellationToken cancellationToken);

    /// <summary>
    /// Reads a small object (a manifest) of at most <see cref="SmallObjects.MaxBytes"/>, and on a local disk only a
    /// regular file: anything else is an <see cref="InvalidManifestException"/>, never a hang or a huge allocation.
    /// </summary>
    Task<byte[]> ReadSmallObjectAsync(string key, CancellationToken cancellationToken);

    Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken);

    Task<bool> ExistsAsync(string key, CancellationToken cancellationToken);

    IAsyncEnumerable<RepositoryObject> ListAsync(string keyPrefix, CancellationToken cancellationToken);

    Task DeleteAsync(string key, CancellationToken cancellationToken);

    /// <summary>
    /// Removes the folder <paramref name="folderKey"/> (a key prefix without the trailing slash) if it is empty,
    /// is not the root, and is not reached through a link; returns whether it was removed. Object stores have no
    /// folders (a prefix vanishes with its last object): there it does nothing.
    /// </summary>
    Task<bool> TryRemoveEmptyFolderAsync(string folderKey, CancellationToken cancellationToken) => Task.FromResult(false);
}

/// <summary>The bound on small objects (manifests), the same in every store: a repository is untrusted input.</summary>
internal static class SmallObjects
{
    /// <summary>A real manifest is a few KiB (row counts of thousands of tables stay far below this).</summary>
    public const int MaxBytes = 16 * 1024 * 1024;

    public static InvalidManifestException TooLarge(string location)
        => new($"{location} is larger than {MaxBytes / (1024 * 1024)} MiB, the bound on a manifest: not read.", location);

    public static InvalidManifestException NotRegularFile(string location)
        => new($"{location} is not a regular file (a FIFO, a socket or a device): not read.", location);

    /// <summary>Reads <paramref name="stream"/> to its end, refusing to hold more than <see cref="MaxBytes"/>.</summary>
    /// <param name="declaredLength">What the store says the object holds, when it says; checked before a byte is read.</param>
    public static async Task<byte[]> ReadBoundedAsync(Stream stream, long? declaredLength, string location, CancellationToken cancellationToken)
    {
        if (declaredLength > MaxBytes)
        {
            throw TooLarge(location);
        }

        using var buffer = new MemoryStream(declaredLength is > 0 and var length ? (int)length : 4096);
        var chunk = new byte[64 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            // A declared length can lie (a device, a server): count what really arrives.
            if (buffer.Length + read > MaxBytes)
            {
                throw TooLarge(location);
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    public static RepositoryObjectExistsException Exists(string location, Exception? inner = null)
        => new($"{location} already exists: nothing was overwritten.", location, inner);

    /// <summary>Whether the key is taken, as far as the credentials may tell: write-only ones cannot look, and then only the store's condition guards.</summary>
    public static async Task<bool> TakenAsync(IBackupRepository repository, string key, CancellationToken cancellationToken)
    {
        try
        {
            return await repository.ExistsAsync(key, cancellationToken).ConfigureAwait(false);
        }
        catch (RepositoryAccessDeniedException)
        {
            return false;
        }
    }

    /// <summary>
    /// An object store's create-only write: refused up front when the key is taken, then <paramref name="put"/> (a
    /// conditional request that throws <see cref="RepositoryObjectExistsException"/> when the store refuses it).
    /// </summary>
    public static async Task CreateAsync(IBackupRepository repository, string key, ReadOnlyMemory<byte> content, Func<CancellationToken, Task> put, CancellationToken cancellationToken)
    {
        if (await TakenAsync(repository, key, cancellationToken).ConfigureAwait(false))
        {
            throw Exists(repository.GetObjectLocation(key));
        }

        try
        {
            await put(cancellationToken).ConfigureAwait(false);
        }
        catch (RepositoryObjectExistsException)
        {
            // Unless the SDK retried a put whose answer was lost: then the object there is this one.
            if (!await HoldsAsync(repository, key, content, cancellationToken).ConfigureAwait(false))
            {
                throw;
            }
        }
    }

    private static async Task<bool> HoldsAsync(IBackupRepository repository, string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        try
        {
            return (await repository.ReadSmallObjectAsync(key, cancellationToken).ConfigureAwait(false)).AsSpan().SequenceEqual(content.Span);
        }
        catch (PgBackupException)
        {
            return false;
        }
    }
}
