using PgBackup.Storage;

namespace PgBackup.Tests.Integration;

/// <summary>A real repository behind a seam: a test overrides the one call it watches or fails; the rest goes through.</summary>
internal class DelegatingRepository(IBackupRepository inner) : IBackupRepository
{
    public string Location => inner.Location;

    public RepositoryDescriptor Descriptor => inner.Descriptor;

    public string GetObjectLocation(string key) => inner.GetObjectLocation(key);

    public Task EnsureWritableAsync(CancellationToken cancellationToken) => inner.EnsureWritableAsync(cancellationToken);

    public Task EnsureExistsAsync(CancellationToken cancellationToken) => inner.EnsureExistsAsync(cancellationToken);

    public Task<IArtifactUpload> BeginArtifactAsync(string key, ArtifactMetadata metadata, long? expectedSizeBytes, CancellationToken cancellationToken)
        => inner.BeginArtifactAsync(key, metadata, expectedSizeBytes, cancellationToken);

    public virtual Task WriteSmallObjectAsync(string key, ReadOnlyMemory<byte> content, ArtifactMetadata? metadata, CancellationToken cancellationToken)
        => inner.WriteSmallObjectAsync(key, content, metadata, cancellationToken);

    public Task<byte[]> ReadSmallObjectAsync(string key, CancellationToken cancellationToken) => inner.ReadSmallObjectAsync(key, cancellationToken);

    public Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken) => inner.OpenReadAsync(key, cancellationToken);

    public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken) => inner.ExistsAsync(key, cancellationToken);

    public IAsyncEnumerable<RepositoryObject> ListAsync(string keyPrefix, CancellationToken cancellationToken) => inner.ListAsync(keyPrefix, cancellationToken);

    public virtual Task DeleteAsync(string key, CancellationToken cancellationToken) => inner.DeleteAsync(key, cancellationToken);
}
