using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using PgBackup.Backup;
using PgBackup.Catalog;
using PgBackup.Diagnostics;
using PgBackup.Storage;

namespace PgBackup.Tests.Integration;

/// <summary>Backups to restore, and ways to compare databases, for the restore tests.</summary>
internal static class RestoreTestSupport
{
    /// <summary>Backs a database up into <paramref name="repositoryPath"/> with the real BackupService.</summary>
    public static async Task<(BackupInfo Backup, IBackupRepository Repository)> BackupAsync(
        PostgresFixture fixture, string database, string repositoryPath, BackupFormat format = BackupFormat.Custom, BackupCompression compression = BackupCompression.Gzip, int jobs = 1)
    {
        var repository = RepositoryFactory.Open(repositoryPath);
        var backup = await new BackupService().RunAsync(
            new BackupRequest { Database = database, Connection = fixture.Connection(), Repository = repository, Format = format, Compression = compression, Jobs = jobs },
            CancellationToken.None);
        Assert.Equal(BackupStatus.Succeeded, backup.Status);
        return (backup, repository);
    }

    /// <summary>
    /// Per table: md5 of all its rows (every column, as row text) in a fixed order — equal hashes
    /// mean equal content, whatever order the rows were loaded in.
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, string>> ContentHashesAsync(PostgresCluster cluster, string database)
    {
        var tables = (await cluster.PsqlAsync(database, "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables ORDER BY 1;"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var hashes = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var table in tables)
        {
            hashes[table] = (await cluster.PsqlAsync(database, $"SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {table} t;")).Trim();
        }

        return hashes;
    }

    /// <summary>Schema text plus content hashes: two databases with equal snapshots hold the same things.</summary>
    public static async Task<string> SnapshotAsync(PostgresCluster cluster, string database)
    {
        var schema = await cluster.SchemaDumpAsync(database);
        var content = string.Join('\n', (await ContentHashesAsync(cluster, database)).Select(kv => kv.Key + " " + kv.Value));
        return schema + "\n-- content --\n" + content;
    }

    /// <summary>A database holding data that is not the backup's, to be replaced.</summary>
    public static async Task CreateOtherDataAsync(PostgresCluster cluster, string database)
    {
        await cluster.CreateDatabaseAsync(database);
        await cluster.PsqlAsync(database, "CREATE TABLE marker (note text PRIMARY KEY); INSERT INTO marker VALUES ('the data before the restore');");
    }

    /// <summary>
    /// Overwrites bytes in the middle of the artifact and rewrites the manifest's size and SHA-256 to
    /// match, so the backup passes its checksum yet pg_restore fails part-way through.
    /// </summary>
    public static async Task<BackupInfo> CorruptBodyKeepingChecksumAsync(BackupInfo backup, IBackupRepository repository)
    {
        var bytes = await File.ReadAllBytesAsync(backup.Location!);
        for (var i = bytes.Length / 2; i < Math.Min(bytes.Length, bytes.Length / 2 + 512); i++)
        {
            bytes[i] ^= 0x5A;
        }

        return await ReplaceArtifactKeepingChecksumAsync(backup, repository, bytes);
    }

    /// <summary>Stores <paramref name="bytes"/> as the backup's artifact and rewrites the manifest's size and SHA-256 to match.</summary>
    public static async Task<BackupInfo> ReplaceArtifactKeepingChecksumAsync(BackupInfo backup, IBackupRepository repository, byte[] bytes)
    {
        await File.WriteAllBytesAsync(backup.Location!, bytes);
        var manifest = JsonNode.Parse(await File.ReadAllTextAsync(backup.ManifestLocation))!;
        manifest["sha256"] = Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
        manifest["sizeBytes"] = bytes.Length;
        await File.WriteAllTextAsync(backup.ManifestLocation, manifest.ToJsonString());
        return await new BackupCatalog(repository).ReadAsync(backup.ManifestKey, CancellationToken.None);
    }

    /// <summary>Sets a manifest field and reads the backup back (e.g. a newer pgDumpVersion).</summary>
    public static async Task<BackupInfo> RewriteManifestAsync(BackupInfo backup, IBackupRepository repository, string field, string value)
    {
        var manifest = JsonNode.Parse(await File.ReadAllTextAsync(backup.ManifestLocation))!;
        manifest[field] = value;
        await File.WriteAllTextAsync(backup.ManifestLocation, manifest.ToJsonString());
        return await new BackupCatalog(repository).ReadAsync(backup.ManifestKey, CancellationToken.None);
    }

    /// <summary>
    /// A database whose restore takes long and can be caught in the act: each row of "slow" passes a
    /// CHECK that sleeps, so pg_restore's COPY sits in pg_sleep for many seconds.
    /// </summary>
    public static async Task CreateSlowToRestoreAsync(PostgresCluster cluster, string database, int rows = 80)
    {
        await cluster.CreateDatabaseAsync(database);
        await cluster.PsqlAsync(database, string.Create(CultureInfo.InvariantCulture, $"""
            CREATE TABLE quick (id int PRIMARY KEY, note text);
            INSERT INTO quick SELECT g, 'row ' || g FROM generate_series(1, 100) g;
            CREATE FUNCTION public.slow_ok(v int) RETURNS boolean LANGUAGE sql
                AS $$SELECT pg_catalog.pg_sleep(CASE WHEN pg_catalog.current_setting('pgbackup_test.fast', true) = 'on' THEN 0 ELSE 0.25 END) IS NOT NULL$$;
            CREATE TABLE slow (id int PRIMARY KEY CHECK (public.slow_ok(id)));
            SET pgbackup_test.fast = 'on'; -- only while loading the source; the restore's session sleeps
            INSERT INTO slow SELECT g FROM generate_series(1, {rows}) g;
            """));
    }

    /// <summary>Waits until a pgbackup restore session sits in the sleeping CHECK; returns the database it restores into.</summary>
    public static async Task<string> WaitForSleepingRestoreAsync(PostgresCluster cluster)
    {
        for (var i = 0; i < 600; i++)
        {
            var database = (await cluster.PsqlAsync("postgres", "SELECT datname FROM pg_stat_activity WHERE application_name = 'pgbackup' AND wait_event = 'PgSleep' LIMIT 1;")).Trim();
            if (database.Length > 0)
            {
                return database;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("No restore session reached the slow table within a minute.");
    }

    /// <summary>Kills the pg_restore process that restores into <paramref name="database"/> (found by its argv).</summary>
    public static int KillPgRestoreFor(string database)
    {
        var killed = 0;
        foreach (var process in System.Diagnostics.Process.GetProcessesByName("pg_restore"))
        {
            using (process)
            {
                string commandLine;
                try
                {
                    commandLine = File.ReadAllText($"/proc/{process.Id}/cmdline");
                }
                catch (IOException)
                {
                    continue;
                }

                if (commandLine.Contains(database, StringComparison.Ordinal))
                {
                    process.Kill();
                    killed++;
                }
            }
        }

        return killed;
    }

    public static async Task<IReadOnlyList<string>> DatabasesAsync(PostgresCluster cluster) => await cluster.ListDatabasesAsync();
}

/// <summary>Collects what a service narrates; can act when a message arrives.</summary>
internal sealed class RecordingLog(Action<string>? onVerbose = null) : IOperationLog
{
    public List<string> Messages { get; } = [];

    public void Verbose(string message)
    {
        lock (Messages)
        {
            Messages.Add(message);
        }

        onVerbose?.Invoke(message);
    }

    public void Warning(string message)
    {
        lock (Messages)
        {
            Messages.Add("WARNING: " + message);
        }
    }
}
