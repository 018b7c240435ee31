using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using PgBackup.Errors;

namespace PgBackup.Storage;

/// <summary>
/// A repository in a local (or mounted) folder. Artifacts are written as <c>.partial</c> files,
/// flushed to the disk and renamed, so a crash never leaves a file under its final name.
/// <para>
/// The folder is untrusted input: symbolic links below the root are never followed (not by the listing, not by a
/// read, an existence check or a removal, each checking the path again right before it acts), only regular files
/// are read, files are created owner-only (0600) and never replace an existing one.
/// </para>
/// </summary>
internal sealed class LocalRepository : IBackupRepository
{
    public const string PartialSuffix = ".partial";

    /// <summary>rw------- : backups hold a whole database, whatever the umask says.</summary>
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

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
        var finalPath = CheckedPath(key);
        var partialPath = finalPath + PartialSuffix;
        // Taken by a finished backup or one still being written (its .partial): the caller draws another name.
        if (Taken(finalPath) || Taken(partialPath))
        {
            throw SmallObjects.Exists(finalPath);
        }

        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(finalPath)!);
            var stream = CreateNew(partialPath, FileShare.Read, 1 << 16);
            return Task.FromResult<IArtifactUpload>(new LocalArtifactUpload(stream, partialPath, finalPath));
        }
        catch (IOException ex) when (Taken(partialPath))
        {
            throw SmallObjects.Exists(finalPath, ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new RepositoryWriteFailedException($"Cannot write {partialPath}: {ex.Message}", finalPath, ex);
        }
    }

    public async Task WriteSmallObjectAsync(string key, ReadOnlyMemory<byte> content, ArtifactMetadata? metadata, CancellationToken cancellationToken)
    {
        var path = CheckedPath(key);
        if (Taken(path))
        {
            throw SmallObjects.Exists(path);
        }

        var temporary = path + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await using (var stream = CreateNew(temporary, FileShare.None, 4096))
            {
                await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }

            // Never overwrite: on Unix .NET moves without overwriting by link() + unlink(), which fails atomically
            // when the name appeared meanwhile (a same-second run that drew the same suffix).
            File.Move(temporary, path, overwrite: false);
        }
        catch (IOException ex) when (Taken(path))
        {
            TryDelete(temporary);
            throw SmallObjects.Exists(path, ex);
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
        var path = CheckedPath(key);
        try
        {
            await using var stream = OpenRegularFile(path, 4096);
            return await SmallObjects.ReadBoundedAsync(stream, stream.Length, path, cancellationToken).ConfigureAwait(false);
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
        var path = CheckedPath(key);
        try
        {
            return Task.FromResult<Stream>(OpenRegularFile(path, 1 << 16));
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

    public Task<bool> ExistsAsync(string key, CancellationToken cancellationToken) => Task.FromResult(File.Exists(CheckedPath(key)));

    public async IAsyncEnumerable<RepositoryObject> ListAsync(string keyPrefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (!Directory.Exists(Root))
        {
            yield break;
        }

        // Walked by hand, skipping every symbolic link: .NET's recursive enumeration follows linked folders, so a
        // "latest -> 2026/12/01" link listed each backup twice and a folder linked outside the repository was listed
        // (and expired) as if it were inside. Without links each real file has exactly one key.
        var options = new EnumerationOptions { RecurseSubdirectories = false, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.ReparsePoint };
        var folders = new Stack<DirectoryInfo>([new DirectoryInfo(Root)]);
        while (folders.TryPop(out var folder))
        {
            foreach (var entry in folder.EnumerateFileSystemInfos("*", options))
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (entry.LinkTarget is not null)
                {
                    continue;
                }

                if (entry is DirectoryInfo subfolder)
                {
                    folders.Push(subfolder);
                    continue;
                }

                var key = Path.GetRelativePath(Root, entry.FullName).Replace(Path.DirectorySeparatorChar, '/');
                if (key.StartsWith(keyPrefix, StringComparison.Ordinal))
                {
                    yield return new RepositoryObject(key, ((FileInfo)entry).Length, entry.LastWriteTimeUtc);
                }
            }
        }

        await Task.CompletedTask.ConfigureAwait(false);
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken)
    {
        // Checked again right before the removal: a folder swapped for a link since the listing is refused.
        var path = CheckedPath(key);
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

    public Task<bool> TryRemoveEmptyFolderAsync(string folderKey, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (string.IsNullOrEmpty(folderKey.Trim('/')))
        {
            return Task.FromResult(false);
        }

        try
        {
            // CheckedPath refuses the root's outside and any link on the way, the folder itself included.
            var path = CheckedPath(folderKey.Trim('/'));
            if (!Directory.Exists(path) || string.Equals(path.TrimEnd(Path.DirectorySeparatorChar), Root.TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal))
            {
                return Task.FromResult(false);
            }

            // Not recursive: the system call removes only an empty folder, so nothing written meanwhile is lost.
            Directory.Delete(path, recursive: false);
            return Task.FromResult(true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidManifestException)
        {
            return Task.FromResult(false);
        }
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

    /// <summary>
    /// <see cref="PathOf"/>, refusing a path that goes through a symbolic link below the root or is one: whatever it
    /// points to is not in the repository as listed, and may be outside it.
    /// </summary>
    private string CheckedPath(string key)
    {
        var path = PathOf(key);
        var current = Root;
        foreach (var segment in Path.GetRelativePath(Root, path).Split(Path.DirectorySeparatorChar))
        {
            current = Path.Combine(current, segment);
            if (new FileInfo(current).LinkTarget is not null)
            {
                throw new InvalidManifestException($"The key \"{key}\" goes through the symbolic link {current}: links in a repository are not followed.", key);
            }
        }

        return path;
    }

    /// <summary>Something (a file, a folder, a link, even a dangling one) already has this name.</summary>
    private static bool Taken(string path) => File.Exists(path) || Directory.Exists(path) || new FileInfo(path).LinkTarget is not null;

    /// <summary>A new file, owner-only on Unix; fails when the name exists.</summary>
    private static FileStream CreateNew(string path, FileShare share, int bufferSize)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = share, BufferSize = bufferSize, Options = FileOptions.Asynchronous };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = OwnerOnly;
        }

        return new FileStream(path, options);
    }

    /// <summary>
    /// Opens a file to read it, refusing anything but a regular file. On Unix the open does not block: a FIFO named
    /// like a manifest would otherwise hang the listing until someone writes into it. A device that seeks
    /// (/dev/zero) passes this check and is then stopped by the size bound of the read.
    /// </summary>
    private static FileStream OpenRegularFile(string path, int bufferSize)
    {
        if (OperatingSystem.IsWindows())
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }

        var descriptor = NativeOpen(path, OpenReadOnlyNonBlocking);
        if (descriptor < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            var message = Marshal.GetPInvokeErrorMessage(errno);
            throw errno is 2 or 20 // ENOENT, ENOTDIR
                ? new FileNotFoundException(message, path)
                : new IOException($"{message} ({path})", errno);
        }

        var handle = new SafeFileHandle(descriptor, ownsHandle: true);
        FileStream stream;
        try
        {
            stream = new FileStream(handle, FileAccess.Read, bufferSize);
        }
        catch
        {
            handle.Dispose();
            throw;
        }

        // Pipes, FIFOs, sockets and terminals cannot seek; regular files always can.
        if (!stream.CanSeek)
        {
            stream.Dispose();
            throw SmallObjects.NotRegularFile(path);
        }

        return stream;
    }

    /// <summary>O_RDONLY | O_NONBLOCK | O_CLOEXEC (their values differ between Linux and macOS).</summary>
    private static int OpenReadOnlyNonBlocking => OperatingSystem.IsMacOS() ? 0x0004 | 0x0100_0000 : 0x0800 | 0x0008_0000;

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int NativeOpen([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

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
            catch (IOException ex) when (Taken(finalPath))
            {
                // Another backup drew the same name and finished first: its file stays, ours is removed by the abort.
                throw SmallObjects.Exists(finalPath, ex);
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
