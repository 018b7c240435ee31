using System.Globalization;

namespace PgBackup.TestSupport;

/// <summary>How to start a throwaway cluster.</summary>
public sealed class PostgresClusterOptions
{
    /// <summary>When set, TCP connections need this password (scram-sha-256); else trust.</summary>
    public string? SuperuserPassword { get; set; }

    /// <summary>Log every connection (log_connections), so a test can count them in <see cref="PostgresCluster.ServerLogPath"/>.</summary>
    public bool LogConnections { get; set; }
}

/// <summary>
/// A throwaway PostgreSQL cluster: own data folder, 127.0.0.1 on a free port, fsync off, run as
/// the postgres user when the tests run as root (initdb refuses root). Removed on dispose.
/// Admin SQL goes through psql over the cluster's own Unix socket, which always trusts.
/// </summary>
public sealed class PostgresCluster : IAsyncDisposable, IDisposable
{
    public const string Superuser = "postgres";

    private PostgresCluster(string binDirectory, string baseDirectory, int port, string? password)
    {
        BinDirectory = binDirectory;
        BaseDirectory = baseDirectory;
        Port = port;
        SuperuserPassword = password;
    }

    public string BinDirectory { get; }

    public string BaseDirectory { get; }

    public string DataDirectory => Path.Combine(BaseDirectory, "data");

    public string SocketDirectory => BaseDirectory;

    /// <summary>The server's log (pg_ctl -l).</summary>
    public string ServerLogPath => Path.Combine(BaseDirectory, "server.log");

    /// <summary>
    /// Connections logged so far (<see cref="PostgresClusterOptions.LogConnections"/>) to <paramref name="database"/>
    /// with <paramref name="applicationName"/>.
    /// </summary>
    public int CountLoggedConnections(string database, string applicationName)
    {
        using var log = new FileStream(ServerLogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(log);
        var marker = $"connection authorized: user={Superuser} database={database} application_name={applicationName}";
        var count = 0;
        while (reader.ReadLine() is { } line)
        {
            if (line.Contains(marker, StringComparison.Ordinal))
            {
                count++;
            }
        }

        return count;
    }

    public string Host => "127.0.0.1";

    public int Port { get; }

    public string? SuperuserPassword { get; }

    /// <summary>libpq URI for TCP access as the superuser (password included when there is one).</summary>
    public string ConnectionUri(string database = "postgres")
        => SuperuserPassword is null
            ? $"postgresql://{Superuser}@{Host}:{Port}/{Uri.EscapeDataString(database)}"
            : $"postgresql://{Superuser}:{Uri.EscapeDataString(SuperuserPassword)}@{Host}:{Port}/{Uri.EscapeDataString(database)}";

    public string Tool(string name) => Path.Combine(BinDirectory, name);

    public static PostgresCluster Start(PostgresClusterOptions? options = null) => StartAsync(options).GetAwaiter().GetResult();

    public static async Task<PostgresCluster> StartAsync(PostgresClusterOptions? options = null)
    {
        options ??= new PostgresClusterOptions();
        var bin = FindBinDirectory();
        var baseDirectory = TestEnvironment.CreateTempDirectory("pgbackup-pg");
        var port = TestEnvironment.GetFreeTcpPort();
        var cluster = new PostgresCluster(bin, baseDirectory, port, options.SuperuserPassword);
        try
        {
            var initdb = new List<string> { "-D", cluster.DataDirectory, "-U", Superuser, "-E", "UTF8", "--locale=C.UTF-8", "--no-sync" };
            if (options.SuperuserPassword is { } password)
            {
                var pwfile = Path.Combine(baseDirectory, "pwfile");
                await File.WriteAllTextAsync(pwfile, password + "\n").ConfigureAwait(false);
                initdb.AddRange(["--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=" + pwfile]);
            }
            else
            {
                initdb.Add("--auth=trust");
            }

            if (TestEnvironment.IsRoot)
            {
                await ProcessRunner.RunAsync("chown", ["-R", "postgres:postgres", baseDirectory]).ConfigureAwait(false);
            }

            await cluster.RunAsServerUserAsync(cluster.Tool("initdb"), initdb).ConfigureAwait(false);
            File.Delete(Path.Combine(baseDirectory, "pwfile"));
            var settings = string.Join(' ', new[]
            {
                "-c", $"port={port}",
                "-c", "listen_addresses=127.0.0.1",
                "-c", $"unix_socket_directories={baseDirectory}",
                "-c", "fsync=off",
                "-c", "synchronous_commit=off",
                "-c", "full_page_writes=off",
                "-c", "max_connections=60",
                "-c", "shared_buffers=64MB",
                "-c", "log_connections=" + (options.LogConnections ? "on" : "off"),
            });
            await cluster.RunAsServerUserAsync(cluster.Tool("pg_ctl"), ["-D", cluster.DataDirectory, "-l", cluster.ServerLogPath, "-o", settings, "-w", "-t", "60", "start"]).ConfigureAwait(false);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs SQL through psql (unaligned, tuples only) and returns stdout.</summary>
    public Task<string> PsqlAsync(string database, string sql)
        => ProcessRunner.RunAsync(Tool("psql"), ["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", SocketDirectory, "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", Superuser, "-d", database, "-f", "-"], standardInput: sql);

    public string Psql(string database, string sql) => PsqlAsync(database, sql).GetAwaiter().GetResult().Trim();

    /// <summary>Runs a SQL file through psql.</summary>
    public Task<string> PsqlFileAsync(string database, string path)
        => ProcessRunner.RunAsync(Tool("psql"), ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", SocketDirectory, "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", Superuser, "-d", database, "-f", path]);

    /// <summary>Creates a database (the name is quoted, so hostile names work).</summary>
    public Task CreateDatabaseAsync(string name) => PsqlAsync("postgres", $"CREATE DATABASE {QuoteIdentifier(name)};");

    public void CreateDatabase(string name) => CreateDatabaseAsync(name).GetAwaiter().GetResult();

    public async Task CreateNorthwindAsync(string name)
    {
        await CreateDatabaseAsync(name).ConfigureAwait(false);
        await PsqlFileAsync(name, TestEnvironment.NorthwindSqlPath).ConfigureAwait(false);
    }

    public void CreateNorthwind(string name) => CreateNorthwindAsync(name).GetAwaiter().GetResult();

    public async Task<IReadOnlyList<string>> ListDatabasesAsync()
    {
        var output = await PsqlAsync("postgres", "SELECT datname FROM pg_database ORDER BY 1;").ConfigureAwait(false);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary>Table name → exact row count for every user table.</summary>
    public async Task<IReadOnlyDictionary<string, long>> RowCountsAsync(string database)
    {
        var tables = (await PsqlAsync(database, "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables ORDER BY 1;").ConfigureAwait(false))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var result = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var table in tables)
        {
            var count = await PsqlAsync(database, $"SELECT count(*) FROM {table};").ConfigureAwait(false);
            result[table] = long.Parse(count.Trim(), CultureInfo.InvariantCulture);
        }

        return result;
    }

    /// <summary>
    /// pg_dump --schema-only text, for comparing two databases' definitions. The \restrict and
    /// \unrestrict lines (psql meta-command guards, PostgreSQL 13.22/14.19/15.14/16.10/17.6 and later)
    /// carry a random key per run, so they are dropped.
    /// </summary>
    public async Task<string> SchemaDumpAsync(string database)
    {
        var text = await ProcessRunner.RunAsync(Tool("pg_dump"), ["--schema-only", "--no-owner", "-h", SocketDirectory, "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", Superuser, "--dbname=dbname=" + QuoteConnInfo(database)]).ConfigureAwait(false);
        return string.Join('\n', text.Split('\n').Where(line => !line.StartsWith("\\restrict ", StringComparison.Ordinal) && !line.StartsWith("\\unrestrict ", StringComparison.Ordinal)));
    }

    public string SchemaDump(string database) => SchemaDumpAsync(database).GetAwaiter().GetResult();

    /// <summary>
    /// Holds an ACCESS EXCLUSIVE lock on a table until disposed. pg_dump locks every table before it
    /// writes data, so a dump started meanwhile waits, reliably "midway": running, connected, with its
    /// output open. Tests use it to stop or kill a dump at a known point instead of racing a timer.
    /// </summary>
    public async Task<IAsyncDisposable> HoldExclusiveLockAsync(string database, string table)
    {
        var info = new System.Diagnostics.ProcessStartInfo(Tool("psql"))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", SocketDirectory, "-p", Port.ToString(CultureInfo.InvariantCulture), "-U", Superuser, "-d", database })
        {
            info.ArgumentList.Add(argument);
        }

        var process = System.Diagnostics.Process.Start(info) ?? throw new InvalidOperationException("Cannot start psql.");
        await process.StandardInput.WriteLineAsync($"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE; SELECT 'locked';").ConfigureAwait(false);
        await process.StandardInput.FlushAsync().ConfigureAwait(false);
        var line = await process.StandardOutput.ReadLineAsync().ConfigureAwait(false);
        while (line is not null && !line.Contains("locked", StringComparison.Ordinal))
        {
            line = await process.StandardOutput.ReadLineAsync().ConfigureAwait(false);
        }

        if (line is null)
        {
            throw new InvalidOperationException("Could not lock " + table + ": " + await process.StandardError.ReadToEndAsync().ConfigureAwait(false));
        }

        return new HeldLock(process);
    }

    /// <summary>Waits until a pg_dump of <paramref name="database"/> is connected and waiting for a lock.</summary>
    public async Task WaitForBlockedDumpAsync(string database, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromMinutes(1));
        var sql = $"SELECT count(*) FROM pg_stat_activity WHERE datname = {QuoteLiteral(database)} AND application_name = 'pgbackup' AND wait_event_type = 'Lock';";
        while (DateTime.UtcNow < deadline)
        {
            if ((await PsqlAsync("postgres", sql).ConfigureAwait(false)).Trim() != "0")
            {
                return;
            }

            await Task.Delay(20).ConfigureAwait(false);
        }

        throw new TimeoutException($"No pg_dump of {database} came to wait for its lock.");
    }

    private sealed class HeldLock(System.Diagnostics.Process process) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync().ConfigureAwait(false);
            }
            catch (InvalidOperationException)
            {
            }

            process.Dispose();
        }
    }

    public static string QuoteIdentifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    public static string QuoteLiteral(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    public static string QuoteConnInfo(string value) => "'" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    public async ValueTask DisposeAsync()
    {
        if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
        {
            try
            {
                await RunAsServerUserAsync(Tool("pg_ctl"), ["-D", DataDirectory, "-m", "immediate", "-w", "stop"]).ConfigureAwait(false);
            }
            catch (InvalidOperationException)
            {
                // Already stopped.
            }
        }

        try
        {
            Directory.Delete(BaseDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private Task<string> RunAsServerUserAsync(string tool, IEnumerable<string> arguments)
    {
        return TestEnvironment.IsRoot
            ? ProcessRunner.RunAsync("runuser", new[] { "-u", "postgres", "--", tool }.Concat(arguments))
            : ProcessRunner.RunAsync(tool, arguments);
    }

    private static string FindBinDirectory()
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("PGBACKUP_PG_BIN") is { Length: > 0 } explicitBin)
        {
            candidates.Add(explicitBin);
        }

        if (Directory.Exists("/usr/lib/postgresql"))
        {
            candidates.AddRange(Directory.GetDirectories("/usr/lib/postgresql")
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0)
                .Select(d => Path.Combine(d, "bin")));
        }

        candidates.AddRange((Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        var found = candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")) && File.Exists(Path.Combine(d, "postgres")));
        return found ?? throw new InvalidOperationException(
            "The tests need a PostgreSQL server (initdb, pg_ctl, postgres) and found none. On Debian: apt-get install -y postgresql postgresql-contrib. " +
            (TestEnvironment.IsCi ? "CI=true: this is a failure, not a skip." : string.Empty));
    }
}
