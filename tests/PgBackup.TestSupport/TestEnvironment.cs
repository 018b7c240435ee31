namespace PgBackup.TestSupport;

/// <summary>Facts about the machine the tests run on.</summary>
public static class TestEnvironment
{
    /// <summary>True under CI (CI=true): a missing server is then a failure, never a skip.</summary>
    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static bool IsRoot => OperatingSystem.IsLinux() && Environment.UserName == "root";

    /// <summary>The repository root (the folder holding PgBackup.sln), found from this assembly's location.</summary>
    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(Path.GetDirectoryName(typeof(TestEnvironment).Assembly.Location) ?? AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "PgBackup.sln")))
            {
                dir = dir.Parent;
            }

            return dir?.FullName ?? throw new InvalidOperationException("Cannot find the repository root (PgBackup.sln) above " + typeof(TestEnvironment).Assembly.Location);
        }
    }

    public static string NorthwindSqlPath => Path.Combine(RepositoryRoot, "tests", "data", "northwind.sql");

    /// <summary>A fresh temp folder (world-traversable, so the postgres user can reach files in it).</summary>
    public static string CreateTempDirectory(string prefix)
    {
        var path = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 13)]);
        Directory.CreateDirectory(path);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }

        return path;
    }

    public static int GetFreeTcpPort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
