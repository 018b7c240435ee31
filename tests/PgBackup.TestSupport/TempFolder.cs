namespace PgBackup.TestSupport;

/// <summary>A temporary folder (a local repository, a download target…), removed on dispose.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder(string prefix = "pgbackup-repo")
    {
        Path = TestEnvironment.CreateTempDirectory(prefix);
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
