using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace PgBackup.TestSupport;

/// <summary>
/// A throwaway s3rver (the npm package pinned in the repository's package-lock.json) on a free
/// loopback port with its own data folder and one bucket configured at start. Keys S3RVER/S3RVER.
/// Killed and removed on dispose. Fails — never skips — when node or s3rver is missing.
/// s3rver checks the access key id (an unknown one gets 403 InvalidAccessKeyId) but not v4
/// signatures, and implements neither AbortMultipartUpload nor ListMultipartUploads (see S3FaultProxy).
/// </summary>
public sealed class S3rverServer : IAsyncDisposable, IDisposable
{
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";
    public const string DefaultBucket = "pgbackup-test";

    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private S3rverServer(Process process, string dataDirectory, int port, string bucket)
    {
        _process = process;
        DataDirectory = dataDirectory;
        Port = port;
        Bucket = bucket;
    }

    public string DataDirectory { get; }

    public int Port { get; }

    public string Bucket { get; }

    public string Endpoint => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The file in which s3rver keeps an object of <see cref="Bucket"/>: what is really stored, whatever any client says.</summary>
    public string StoredObjectPath(string objectKey)
        => Path.Combine(DataDirectory, Bucket, objectKey.Replace('/', Path.DirectorySeparatorChar) + "._S3rver_object");

    /// <summary>Lower-case hex SHA-256 of what s3rver stores for an object.</summary>
    public string StoredObjectSha256(string objectKey)
    {
        var path = StoredObjectPath(objectKey);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"s3rver holds no file for {objectKey}.", path);
        }

        using var file = File.OpenRead(path);
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(file)).ToLowerInvariant();
    }

    /// <summary>What s3rver printed so far (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public static S3rverServer Start(string bucket = DefaultBucket) => StartAsync(bucket).GetAwaiter().GetResult();

    public static async Task<S3rverServer> StartAsync(string bucket = DefaultBucket)
    {
        var script = Path.Combine(TestEnvironment.RepositoryRoot, "node_modules", "s3rver", "bin", "s3rver.js");
        if (!File.Exists(script))
        {
            throw new InvalidOperationException(
                $"s3rver is not installed ({script} is missing): run `npm ci` in {TestEnvironment.RepositoryRoot} (build.ps1 Test does). " +
                (TestEnvironment.IsCi ? "CI=true: this is a failure, not a skip." : string.Empty));
        }

        var node = FindNode();
        var dataDirectory = TestEnvironment.CreateTempDirectory("pgbackup-s3rver");
        var port = TestEnvironment.GetFreeTcpPort();
        var info = new ProcessStartInfo(node)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node 17+) keeps
        // in its legacy provider: without it every truncated listing (pagination) fails with 500.
        foreach (var argument in new[] { "--openssl-legacy-provider", script, "-d", dataDirectory, "-a", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "--silent", "--configure-bucket", bucket })
        {
            info.ArgumentList.Add(argument);
        }

        var process = Process.Start(info) ?? throw new InvalidOperationException($"Cannot start {node}.");
        var server = new S3rverServer(process, dataDirectory, port, bucket);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await server.WaitUntilListeningAsync().ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().ConfigureAwait(false);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.Dispose();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private async Task WaitUntilListeningAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"s3rver exited with code {_process.ExitCode} before listening:\n{Output}");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(System.Net.IPAddress.Loopback, Port).ConfigureAwait(false);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(50).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                throw new InvalidOperationException($"s3rver did not listen on port {Port} within 30 s:\n{Output}", ex);
            }
        }
    }

    private static string FindNode()
    {
        var names = OperatingSystem.IsWindows() ? new[] { "node.exe" } : ["node", "nodejs"];
        var found = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .SelectMany(dir => names.Select(name => Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists);
        return found ?? throw new InvalidOperationException(
            "The S3 tests need Node.js (node) to run s3rver and found none on PATH. On Debian: apt-get install -y nodejs npm. " +
            (TestEnvironment.IsCi ? "CI=true: this is a failure, not a skip." : string.Empty));
    }
}
