namespace PgBackup.TestSupport;

/// <summary>Finds processes on this (Linux) machine by their command line, e.g. the pg_dump of one database.</summary>
public static class LocalProcesses
{
    /// <summary>The first running process whose argv contains every fragment (argv holds database names, never secrets).</summary>
    public static System.Diagnostics.Process? Find(params string[] fragments)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                var cmdline = File.ReadAllText(Path.Combine(dir, "cmdline"));
                if (fragments.All(f => cmdline.Contains(f, StringComparison.Ordinal)))
                {
                    return System.Diagnostics.Process.GetProcessById(pid);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                // Gone meanwhile, or not ours to read.
            }
        }

        return null;
    }
}
