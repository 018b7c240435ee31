using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace PgBackup.TestSupport;

/// <summary>
/// A throwaway server from one of the npm packages pinned in the repository's package-lock.json
/// (s3rver, Azurite), on a free loopback port with its own data folder; killed and its folder
/// removed on dispose. Fails — never skips — when node or the package is missing.
/// </summary>
public abstract class NodeServer : IAsyncDisposable, IDisposable
{
    private readonly StringBuilder _output = new();
    private Process? _process;

    protected NodeServer(string name)
    {
        Name = name;
        DataDirectory = TestEnvironment.CreateTempDirectory("pgbackup-" + name.ToLowerInvariant());
        Port = TestEnvironment.GetFreeTcpPort();
    }

    public string DataDirectory { get; }

    public int Port { get; }

    /// <summary>http://127.0.0.1:port</summary>
    public string Endpoint => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>What the server printed so far (for failure messages).</summary>
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

    private string Name { get; }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    public async ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        try
        {
            if (_process is { HasExited: false })
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().ConfigureAwait(false);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process?.Dispose();
        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Runs <c>node [nodeOptions] node_modules/&lt;script&gt; arguments</c> and waits until the port accepts connections.</summary>
    protected async Task StartAsync(string script, IEnumerable<string> nodeOptions, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var scriptPath = Path.Combine(TestEnvironment.RepositoryRoot, "node_modules", script);
        if (!File.Exists(scriptPath))
        {
            throw new InvalidOperationException(
                $"{Name} is not installed ({scriptPath} is missing): run `npm ci` in {TestEnvironment.RepositoryRoot} (build.ps1 Test does). " +
                (TestEnvironment.IsCi ? "CI=true: this is a failure, not a skip." : string.Empty));
        }

        var node = FindNode();
        var info = new ProcessStartInfo(node)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in nodeOptions.Append(scriptPath).Concat(arguments))
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        _process = Process.Start(info) ?? throw new InvalidOperationException($"Cannot start {node}.");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        try
        {
            await WaitUntilListeningAsync().ConfigureAwait(false);
        }
        catch
        {
            await DisposeAsync().ConfigureAwait(false);
            throw;
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
            if (_process!.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with code {_process.ExitCode} before listening:\n{Output}");
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
                throw new InvalidOperationException($"{Name} did not listen on port {Port} within 30 s:\n{Output}", ex);
            }
        }
    }

    private string FindNode()
    {
        var names = OperatingSystem.IsWindows() ? new[] { "node.exe" } : ["node", "nodejs"];
        var found = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty)
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .SelectMany(dir => names.Select(name => Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists);
        return found ?? throw new InvalidOperationException(
            $"The tests need Node.js (node) to run {Name} and found none on PATH. On Debian: apt-get install -y nodejs npm. " +
            (TestEnvironment.IsCi ? "CI=true: this is a failure, not a skip." : string.Empty));
    }
}
