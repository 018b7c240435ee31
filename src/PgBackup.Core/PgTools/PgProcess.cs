using System.Diagnostics;
using System.Text;
using PgBackup.Connection;

namespace PgBackup.PgTools;

/// <summary>
/// A running PostgreSQL client program. Secrets reach it only through its environment
/// (PGPASSWORD) — never argv, which any user on the machine can read. Its stdout is exposed as a
/// stream for the caller to pump; stderr is collected (bounded) for error messages.
/// </summary>
internal sealed class PgProcess : IAsyncDisposable
{
    private const int StderrTailLimit = 64 * 1024;

    // Variables we set ourselves, or that would silently redirect the connection if inherited: never inherited,
    // passed only when the connection has them.
    private static readonly string[] ConnectionVariables =
        ["PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "PGSERVICE", "PGPASSFILE", "PGSSLMODE", "PGAPPNAME"];

    // What a client program needs from the session: finding itself and its libraries, temp files, messages in the
    // user's language and time zone, the home folder (~/.pgpass, ~/.pg_service.conf, ~/.postgresql/ certificates),
    // Kerberos for GSSAPI logins, and on Windows what the C runtime and libpq (%APPDATA%\postgresql) look up.
    private static readonly HashSet<string> InheritedNames = new(
        [
            "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH",
            "KRB5_CONFIG", "KRB5CCNAME", "KRB5_KTNAME",
            "SYSTEMROOT", "WINDIR", "COMSPEC", "PATHEXT", "TEMP", "TMP", "APPDATA", "LOCALAPPDATA", "USERPROFILE", "HOMEDRIVE", "HOMEPATH",
            "PROGRAMDATA", "NUMBER_OF_PROCESSORS", "PROCESSOR_ARCHITECTURE",
        ],
        OperatingSystem.IsWindows() ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal);

    // libpq's documented client variables (TLS files and modes, GSSAPI, timeouts, encodings, defaults), and the
    // Debian/Ubuntu pg_wrapper's choice of cluster: settings the user made for every PostgreSQL client.
    private static readonly HashSet<string> LibpqClientVariables = new(
        [
            "PGREQUIRESSL", "PGSSLCOMPRESSION", "PGSSLCERT", "PGSSLKEY", "PGSSLCERTMODE", "PGSSLROOTCERT", "PGSSLCRL",
            "PGSSLCRLDIR", "PGSSLSNI", "PGSSLNEGOTIATION", "PGSSLMINPROTOCOLVERSION", "PGSSLMAXPROTOCOLVERSION", "PGREQUIREPEER",
            "PGREQUIREAUTH", "PGCHANNELBINDING", "PGGSSENCMODE", "PGKRBSRVNAME", "PGGSSLIB", "PGGSSDELEGATION",
            "PGCONNECT_TIMEOUT", "PGCLIENTENCODING", "PGOPTIONS", "PGTARGETSESSIONATTRS", "PGLOADBALANCEHOSTS",
            "PGDATESTYLE", "PGTZ", "PGGEQO", "PGSYSCONFDIR", "PGSERVICEFILE", "PGLOCALEDIR",
            "PGCLUSTER", "PG_CLUSTER_CONF_ROOT",
        ],
        StringComparer.Ordinal);

    private readonly Process _process;
    private readonly Task<string> _stderr;
    private bool _exited;

    private PgProcess(Process process)
    {
        _process = process;
        _stderr = ReadTailAsync(process.StandardError.BaseStream);
    }

    public int Id => _process.Id;

    /// <summary>The child's stdout (the dump, for pg_dump).</summary>
    public Stream StandardOutput => _process.StandardOutput.BaseStream;

    /// <summary>The child's stdin (the archive, for pg_restore reading from a pipe).</summary>
    public Stream StandardInput => _process.StandardInput.BaseStream;

    public static PgProcess Start(PgTool tool, IEnumerable<string> arguments, PgConnectionSettings? connection, bool redirectInput = false)
    {
        var startInfo = CreateStartInfo(tool.Path, arguments);

        if (connection is not null)
        {
            ApplyConnectionEnvironment(startInfo.Environment, connection);
        }

        var process = new Process { StartInfo = startInfo };
        process.Start();
        if (!redirectInput)
        {
            process.StandardInput.Close();
        }

        return new PgProcess(process);
    }

    /// <summary>Sets the libpq variables a child needs; removes inherited ones that would contradict them.</summary>
    public static void ApplyConnectionEnvironment(IDictionary<string, string?> environment, PgConnectionSettings connection)
    {
        foreach (var name in ConnectionVariables)
        {
            environment.Remove(name);
        }

        environment["PGHOST"] = connection.Host;
        environment["PGPORT"] = connection.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        environment["PGUSER"] = connection.EffectiveUsername;
        if (!string.IsNullOrEmpty(connection.Password))
        {
            environment["PGPASSWORD"] = connection.Password;
        }

        if (!string.IsNullOrEmpty(connection.PassFile))
        {
            environment["PGPASSFILE"] = connection.PassFile;
        }

        if (!string.IsNullOrEmpty(connection.SslMode))
        {
            environment["PGSSLMODE"] = connection.SslMode;
        }

        environment["PGAPPNAME"] = "pgbackup";
        if (!environment.ContainsKey("PGCONNECT_TIMEOUT"))
        {
            environment["PGCONNECT_TIMEOUT"] = "15";
        }
    }

    /// <summary>Waits for the child to exit; returns its exit code (negative-ish codes for signals).</summary>
    public async Task<int> WaitForExitAsync(CancellationToken cancellationToken)
    {
        await _process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        _exited = true;
        return _process.ExitCode;
    }

    /// <summary>The last 64 KiB the child wrote to stderr, complete once it has exited.</summary>
    public Task<string> StandardErrorTail => _stderr;

    public void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_exited)
        {
            Kill();
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The kernel will reap it; nothing more we can do.
            }
        }

        try
        {
            await _stderr.ConfigureAwait(false);
        }
        catch (IOException)
        {
        }

        _process.Dispose();
    }

    /// <summary>
    /// Runs a short command (e.g. <c>--version</c>) and returns its stdout. One that has not finished within
    /// <paramref name="timeout"/> is killed (with anything it started) and reported as a TimeoutException.
    /// </summary>
    public static async Task<string> RunForOutputAsync(string path, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var process = Process.Start(CreateStartInfo(path, arguments)) ?? throw new InvalidOperationException($"Could not start {path}.");
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync(deadline.Token);
            var stderr = process.StandardError.ReadToEndAsync(deadline.Token);
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
            await stderr.ConfigureAwait(false);
            return await stdout.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Left running, a hung child would outlive the cmdlet.
            KillAndReap(process);
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException($"{path} did not finish within {timeout.TotalSeconds:0} s.");
        }
    }

    private static void KillAndReap(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(TimeSpan.FromSeconds(10));
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    /// <summary>
    /// Reduces a child's environment to what a PostgreSQL client program can use: an allow-list, so that a secret
    /// nobody thought of (a cloud token, a CI variable) never reaches the child or its /proc/&lt;pid&gt;/environ.
    /// The connection variables are not among them: <see cref="ApplyConnectionEnvironment"/> sets those it passes.
    /// </summary>
    internal static void KeepOnlyInheritable(IDictionary<string, string?> environment)
    {
        foreach (var name in environment.Keys.ToList())
        {
            if (!MayInherit(name))
            {
                environment.Remove(name);
            }
        }
    }

    /// <summary>Whether a child may inherit the variable <paramref name="name"/> from this process.</summary>
    internal static bool MayInherit(string name)
        => InheritedNames.Contains(name)
            || name.StartsWith("LC_", StringComparison.Ordinal)
            || (LibpqClientVariables.Contains(name) && !ConnectionVariables.Contains(name, StringComparer.Ordinal));

    private static ProcessStartInfo CreateStartInfo(string path, IEnumerable<string> arguments)
    {
        var startInfo = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // Always redirected: a child must never wait for a password on the user's terminal.
            RedirectStandardInput = true,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        KeepOnlyInheritable(startInfo.Environment);
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        return startInfo;
    }

    private static async Task<string> ReadTailAsync(Stream stream)
    {
        var buffer = new byte[8192];
        var tail = new List<byte>();
        int read;
        while ((read = await stream.ReadAsync(buffer).ConfigureAwait(false)) > 0)
        {
            tail.AddRange(buffer.AsSpan(0, read).ToArray());
            if (tail.Count > StderrTailLimit)
            {
                tail.RemoveRange(0, tail.Count - StderrTailLimit);
            }
        }

        return Encoding.UTF8.GetString(tail.ToArray()).Trim();
    }
}
