using System.Collections.Concurrent;

namespace PgBackup.TestSupport;

/// <summary>What one child process showed in /proc after it had become its own program (exec'd).</summary>
/// <param name="Pid">Its process id.</param>
/// <param name="Executable">Where /proc/&lt;pid&gt;/exe pointed (pg_dump, pg_restore, psql…).</param>
/// <param name="Arguments">Its argv.</param>
/// <param name="Environment">Its environment, NAME=value entries.</param>
public sealed record ChildProcessSnapshot(int Pid, string Executable, IReadOnlyList<string> Arguments, IReadOnlyList<string> Environment)
{
    public string Name => System.IO.Path.GetFileName(Executable);
}

/// <summary>
/// Polls /proc every few milliseconds for the processes this process starts (and their descendants) while it runs,
/// recording their argv and environment as a secret scan would see them. Processes that existed before the scan
/// (servers the test started, their backends) are not counted. Linux only.
/// </summary>
public sealed class ChildProcessScan : IDisposable
{
    private readonly int _self = System.Environment.ProcessId;
    private readonly string _selfExecutable = ReadLink(System.Environment.ProcessId) ?? string.Empty;
    private readonly HashSet<int> _before;
    private readonly ConcurrentDictionary<int, int> _ours = new();
    private readonly ConcurrentDictionary<(int Pid, string Executable), ChildProcessSnapshot> _seen = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;

    private ChildProcessScan()
    {
        _before = [.. Pids()];
        _thread = new Thread(Run) { IsBackground = true, Name = "ChildProcessScan" };
        _thread.Start();
    }

    /// <summary>How many times /proc was read through; a scan that never ran proves nothing.</summary>
    public int Rounds { get; private set; }

    public static ChildProcessScan Start() => new();

    /// <summary>Stops polling; returns every snapshot taken (one per process and program).</summary>
    public IReadOnlyList<ChildProcessSnapshot> Stop()
    {
        _stop.Cancel();
        _thread.Join();
        return [.. _seen.Values.OrderBy(s => s.Pid)];
    }

    public void Dispose()
    {
        if (!_stop.IsCancellationRequested)
        {
            Stop();
        }

        _stop.Dispose();
    }

    private void Run()
    {
        while (!_stop.IsCancellationRequested)
        {
            foreach (var pid in Pids())
            {
                if (_before.Contains(pid) || pid == _self)
                {
                    continue;
                }

                if (!_ours.ContainsKey(pid))
                {
                    var parent = ParentOf(pid);
                    if (parent != _self && !_ours.ContainsKey(parent))
                    {
                        continue;
                    }

                    _ours[pid] = parent;
                }

                // exe first: once it is no longer ours the child has exec'd, so what follows is the child's own
                // argv and environment, not the copy of ours it holds between fork and exec.
                var executable = ReadLink(pid);
                if (executable is null || executable == _selfExecutable)
                {
                    continue;
                }

                var arguments = ReadNulSeparated(pid, "cmdline");
                var environment = ReadNulSeparated(pid, "environ");
                if (arguments is not null && environment is not null)
                {
                    _seen.TryAdd((pid, executable), new ChildProcessSnapshot(pid, executable, arguments, environment));
                }
            }

            Rounds++;
            Thread.Sleep(2);
        }
    }

    private static IEnumerable<int> Pids()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(System.IO.Path.GetFileName(dir), out var pid))
            {
                yield return pid;
            }
        }
    }

    private static int ParentOf(int pid)
    {
        try
        {
            // "pid (comm) state ppid …": comm may hold spaces and parentheses, so parse after the last ')'.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or ArgumentOutOfRangeException or IndexOutOfRangeException)
        {
            return -1;
        }
    }

    private static string? ReadLink(int pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/exe").LinkTarget;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string[]? ReadNulSeparated(int pid, string file)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/{file}").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
