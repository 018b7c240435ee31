namespace PgBackup.TestSupport;

/// <summary>
/// A small tmpfs mounted on a fresh folder: a filesystem a test can fill to the last byte (disk-full faults).
/// Needs root, as CI and this project's test machines run; anywhere else it fails with a clear message, never skips.
/// </summary>
public sealed class TmpfsMount : IDisposable
{
    private TmpfsMount(string path)
    {
        Path = path;
    }

    public string Path { get; }

    /// <summary>Mounts a tmpfs of <paramref name="sizeMiB"/> MiB; unmounted and removed on dispose.</summary>
    public static TmpfsMount Create(int sizeMiB) => Create(sizeMiB, inodes: null);

    /// <summary>
    /// Mounts a tmpfs of <paramref name="sizeMiB"/> MiB holding at most <paramref name="inodes"/> files and folders (its
    /// root included), when given: the next file after those fails with "No space left on device", to the file.
    /// </summary>
    public static TmpfsMount Create(int sizeMiB, int? inodes)
    {
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root")
        {
            throw new InvalidOperationException(
                "The disk-full tests mount a small tmpfs (mount -t tmpfs) and so must run as root on Linux, as CI does. Run the suite as root.");
        }

        var path = TestEnvironment.CreateTempDirectory("pgbackup-tmpfs");
        ProcessRunner.RunAsync("mount", ["-t", "tmpfs", "-o", $"size={sizeMiB}m,mode=0777" + (inodes is { } count ? $",nr_inodes={count}" : string.Empty), "tmpfs", path]).GetAwaiter().GetResult();
        return new TmpfsMount(path);
    }

    public void Dispose()
    {
        ProcessRunner.RunAsync("umount", ["-l", Path], throwOnError: false).GetAwaiter().GetResult();
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
