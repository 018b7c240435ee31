using System.Collections.Concurrent;
using PgBackup.Errors;

namespace PgBackup.PgTools;

/// <summary>A PostgreSQL client program found on this machine.</summary>
internal sealed record PgTool(string Name, string Path, PgToolVersion Version);

/// <summary>
/// Finds pg_dump/pg_restore/psql. Looks in <c>PGBACKUP_PG_BIN</c> when set (and only there), else
/// on PATH, then in the usual install folders (Debian, RHEL, Homebrew, Windows installer), and picks
/// the first whose major version can handle the server: pg_dump refuses to dump a newer server.
/// </summary>
internal sealed class PgToolLocator
{
    public const string BinFolderVariable = "PGBACKUP_PG_BIN";

    /// <summary>How long <c>--version</c> may take: a real client answers at once, a wedged one must not hang the cmdlet.</summary>
    public static readonly TimeSpan DefaultVersionTimeout = TimeSpan.FromSeconds(30);

    private static readonly ConcurrentDictionary<string, PgToolVersion?> VersionCache = new(StringComparer.Ordinal);

    private readonly Func<string, string?> _environment;
    private readonly TimeSpan _versionTimeout;

    public PgToolLocator(Func<string, string?>? environment = null, TimeSpan? versionTimeout = null)
    {
        _environment = environment ?? System.Environment.GetEnvironmentVariable;
        _versionTimeout = versionTimeout ?? DefaultVersionTimeout;
    }

    /// <summary>Finds <paramref name="toolName"/> with a major version of at least <paramref name="minimumMajor"/>.</summary>
    public async Task<PgTool> FindAsync(string toolName, int minimumMajor, CancellationToken cancellationToken)
    {
        var found = new List<PgTool>();
        var unanswered = new List<string>();
        foreach (var path in CandidatePaths(toolName))
        {
            var (version, timedOut) = await GetVersionAsync(path, cancellationToken).ConfigureAwait(false);
            if (timedOut)
            {
                unanswered.Add(path);
            }

            if (version is null)
            {
                continue;
            }

            var tool = new PgTool(toolName, path, version);
            if (version.Major >= minimumMajor)
            {
                return tool;
            }

            found.Add(tool);
        }

        if (found.Count == 0)
        {
            var where = _environment(BinFolderVariable) is { Length: > 0 } bin
                ? $"in {BinFolderVariable} ({bin})"
                : "on PATH or in the usual PostgreSQL install folders";
            var hung = unanswered.Count == 0
                ? string.Empty
                : $" {string.Join(", ", unanswered)} did not answer --version within {_versionTimeout.TotalSeconds:0} s and was stopped.";
            throw new PgToolNotFoundException(
                $"No working {toolName} was found {where}.{hung} Install the PostgreSQL client tools or set {BinFolderVariable} to their bin folder.",
                toolName);
        }

        var versions = string.Join(", ", found.Select(t => $"{t.Path} is {t.Version.Text}"));
        throw new PgToolVersionMismatchException(
            $"The server runs PostgreSQL {minimumMajor}, but {toolName} must be at least as new as the server ({versions}). " +
            $"Install the PostgreSQL {minimumMajor} client tools or set {BinFolderVariable} to their bin folder.",
            toolName);
    }

    internal IEnumerable<string> CandidatePaths(string toolName)
    {
        var fileName = OperatingSystem.IsWindows() ? toolName + ".exe" : toolName;
        var seen = new HashSet<string>(StringComparer.Ordinal);

        IEnumerable<string> Folders()
        {
            if (_environment(BinFolderVariable) is { Length: > 0 } explicitBin)
            {
                yield return explicitBin;
                yield break;
            }

            foreach (var entry in (_environment("PATH") ?? string.Empty).Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            {
                yield return entry;
            }

            foreach (var folder in InstallFolders())
            {
                yield return folder;
            }
        }

        foreach (var folder in Folders())
        {
            var candidate = System.IO.Path.Combine(folder, fileName);
            if (File.Exists(candidate) && seen.Add(System.IO.Path.GetFullPath(candidate)))
            {
                yield return candidate;
            }
        }
    }

    private static IEnumerable<string> InstallFolders()
    {
        // Newest first: a newer pg_dump can dump every older server.
        static IEnumerable<string> Versioned(string parent, string pattern, Func<string, string> bin)
        {
            if (!Directory.Exists(parent))
            {
                return [];
            }

            return Directory.EnumerateDirectories(parent, pattern)
                .Select(dir => (dir, version: LeadingNumber(System.IO.Path.GetFileName(dir))))
                .OrderByDescending(x => x.version)
                .Select(x => bin(x.dir));
        }

        foreach (var f in Versioned("/usr/lib/postgresql", "*", d => System.IO.Path.Combine(d, "bin")))
        {
            yield return f;
        }

        foreach (var f in Versioned("/usr", "pgsql-*", d => System.IO.Path.Combine(d, "bin")))
        {
            yield return f;
        }

        foreach (var f in Versioned("/opt/homebrew/opt", "postgresql@*", d => System.IO.Path.Combine(d, "bin")))
        {
            yield return f;
        }

        foreach (var f in Versioned("/usr/local/opt", "postgresql@*", d => System.IO.Path.Combine(d, "bin")))
        {
            yield return f;
        }

        var programFiles = System.Environment.GetFolderPath(System.Environment.SpecialFolder.ProgramFiles);
        if (!string.IsNullOrEmpty(programFiles))
        {
            foreach (var f in Versioned(System.IO.Path.Combine(programFiles, "PostgreSQL"), "*", d => System.IO.Path.Combine(d, "bin")))
            {
                yield return f;
            }
        }
    }

    private static int LeadingNumber(string name)
    {
        var digits = new string(name.SkipWhile(c => !char.IsAsciiDigit(c)).TakeWhile(char.IsAsciiDigit).ToArray());
        return int.TryParse(digits, out var n) ? n : 0;
    }

    /// <summary>The version <paramref name="path"/> reports, or null; TimedOut when it did not answer in time (not remembered: it may recover).</summary>
    private async Task<(PgToolVersion? Version, bool TimedOut)> GetVersionAsync(string path, CancellationToken cancellationToken)
    {
        if (VersionCache.TryGetValue(path, out var cached))
        {
            return (cached, false);
        }

        PgToolVersion? version = null;
        try
        {
            var output = await PgProcess.RunForOutputAsync(path, ["--version"], _versionTimeout, cancellationToken).ConfigureAwait(false);
            version = PgToolVersion.TryParse(output);
        }
        catch (TimeoutException)
        {
            return (null, true);
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or IOException or InvalidOperationException)
        {
            version = null;
        }

        VersionCache[path] = version;
        return (version, false);
    }
}
