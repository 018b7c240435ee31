using System.Runtime.CompilerServices;
using PgBackup.Errors;

namespace PgBackup.Storage;

/// <summary>
/// A repository in a local (or mounted) folder. Artifacts are written as <c>.partial</c> files,
/// flushed to the disk and renamed, so a crash never leaves a file under its final name.
/// </summary>
internal sealed class LocalRepository : IBackupRepository
{
    public const string PartialSuffix = ".partial";

    public LocalRepository(string rootPath)
    {
        Root = Path.GetFullPath(rootPath);
    }

    public string Root { get; }

    public string Location => Root;

    public RepositoryDescriptor Descriptor => new(Root);

    public string GetObjectLocation(string key) => PathOf(key);

    public Task EnsureWritableAsync(CancellationToken cancellationToken)
    {
        try
        {
            Directory.CreateDirectory(Root);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new RepositoryWriteFailedException($"Cannot create the repository folder {Root}: {ex.Message}", Root, ex);
        }

        return Task.CompletedTask;
    }

    public Task EnsureExistsAsync(CancellationToken cancellationToken)
    {
        if (!Directory.Exists(Root))
        {
            throw new RepositoryNotFoundException($"The repository folder {Root} does not exist.", Root);
        }

        return Task.CompletedTask;
    }

    public Task<IArtifactUpload> BeginArtifactAsync(string key, ArtifactMetadata metadata, long? expectedSizeBytes, CancellationToken cancellationToken)
    {
        var finalPath = PathOf(key);
        var partialPath = finalPath + PartialSuffix;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(finalPath)!);
            var stream = new FileStream(partialPath, FileMode.CreateNew, FileAccess.Write, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
            return Task.FromResult<IArtifactUpload>(new LocalArtifactUpload(stream, partialPath, finalPath));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new RepositoryWriteFailedException($"Cannot write {partialPath}: {ex.Message}", finalPath, ex);
        }
    }

    public async Task WriteSmallObjectAsync(string key, ReadOnlyMemory<byte> content, ArtifactMetadata? metadata, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        var temporary = path + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.Asynchronous))
            {
                await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            TryDelete(temporary);
            throw new RepositoryWriteFailedException($"Cannot write {path}: {ex.Message}", path, ex);
        }
        catch
        {
            TryDelete(temporary);
            throw;
        }
    }

    public async Task<byte[]> ReadSmallObjectAsync(string key, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        try
        {
            return await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new RepositoryReadFailedException($"{path} does not exist.", path, ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new RepositoryReadFailedException($"Cannot read {path}: {ex.Message}", path, ex);
        }
    }

    public Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        try
        {
            return Task.FromResult<Stream>(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan));
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new RepositoryReadFailedException($"{path} does not exist.", path, ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new RepositoryReadFailedException($"Cannot read {path}: {ex.Message}", path, ex);
        }
    }

    public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken) => Task.FromResult(File.Exists(PathOf(key)));

    public async IAsyncEnumerable<RepositoryObject> ListAsync(string keyPrefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (!Directory.Exists(Root))
        {
            yield break;
        }

        var options = new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.None };
        foreach (var file in new DirectoryInfo(Root).EnumerateFiles("*", options))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var key = Path.GetRelativePath(Root, file.FullName).Replace(Path.DirectorySeparatorChar, '/');
            if (key.StartsWith(keyPrefix, StringComparison.Ordinal))
            {
                yield return new RepositoryObject(key, file.Length, file.LastWriteTimeUtc);
            }
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        var path = PathOf(key);
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new RepositoryWriteFailedException($"Cannot delete {path}: {ex.Message}", path, ex);
        }

        return Task.CompletedTask;
    }

    private string PathOf(string key)
    {
        var path = Path.GetFullPath(Path.Combine(Root, key.Replace('/', Path.DirectorySeparatorChar)));
        // Keys come from manifests on disk, which a hostile party may have written: stay inside the root.
        if (!path.StartsWith(Root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new InvalidManifestException($"The key \"{key}\" points outside the repository {Root}.", key);
        }

        return path;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: a leftover temp file is harmless (it has no manifest).
        }
    }

    private sealed class LocalArtifactUpload(FileStream stream, string partialPath, string finalPath) : IArtifactUpload
    {
        private bool _done;

        public Stream Content => stream;

        public async Task CommitAsync(string sha256, long sizeBytes, CancellationToken cancellationToken)
        {
            try
            {
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                // The manifest that follows promises these bytes exist: make sure they reached the disk.
                stream.Flush(flushToDisk: true);
                await stream.DisposeAsync().ConfigureAwait(false);
                File.Move(partialPath, finalPath, overwrite: false);
                _done = true;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new RepositoryWriteFailedException($"Cannot store {finalPath}: {ex.Message}", finalPath, ex);
            }
        }

        public async Task AbortAsync()
        {
            if (_done)
            {
                return;
            }

            _done = true;
            try
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
            catch (IOException)
            {
                // Disposing flushes what is buffered, which fails on a full disk; the file goes anyway (and frees the space).
            }

            TryDelete(partialPath);
        }

        public async ValueTask DisposeAsync()
        {
            await AbortAsync().ConfigureAwait(false);
        }
    }
}
