using System.Globalization;
using System.Security.Cryptography;
using PgBackup.Backup;
using PgBackup.Catalog;
using PgBackup.Storage;

namespace PgBackup.Tests.Integration;

/// <summary>Reads what a repository holds, hashing as it goes: a round trip is trusted only byte for byte.</summary>
internal static class StoredObjects
{
    /// <summary>A fresh prefix so tests sharing a bucket or container never see each other's objects.</summary>
    public static string UniquePrefix(string name) => $"{name}-{Guid.NewGuid():N}"[..(name.Length + 9)];

    /// <summary>Downloads an object through the repository's read path; returns (sha256, size) and optionally keeps a copy.</summary>
    public static async Task<(string Sha256, long Size)> DownloadAsync(IBackupRepository repository, string key, string? saveTo = null)
    {
        await using var stream = await repository.OpenReadAsync(key, CancellationToken.None);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var file = saveTo is null ? null : File.Create(saveTo);
        var buffer = new byte[1 << 16];
        long size = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer)) > 0)
        {
            hash.AppendData(buffer, 0, read);
            size += read;
            if (file is not null)
            {
                await file.WriteAsync(buffer.AsMemory(0, read));
            }
        }

        return (Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant(), size);
    }

}

/// <summary>Databases the object-store tests (S3, Azure) back up: Northwind, and one large enough to span several 5 MiB parts.</summary>
internal static class StoreTestDatabases
{
    /// <summary>
    /// About 50 MB as an uncompressed custom-format dump: ten or more 5 MiB parts, and more than the dump pipeline's
    /// bounded queues plus the part writer's buffers hold (about 26 MiB), so while the first part is held pg_dump is
    /// still in its COPY (the mid-dump failure tests kill that session).
    /// </summary>
    public const int LargeRows = 700_000;

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static readonly Dictionary<int, string> Large = [];
    private static readonly Dictionary<int, string> Northwind = [];

    public static Task<string> NorthwindAsync(PostgresCluster cluster) => CreateOnceAsync(cluster, Northwind, "s3_northwind", name => cluster.CreateNorthwindAsync(name));

    public static Task<string> LargeAsync(PostgresCluster cluster) => CreateOnceAsync(cluster, Large, "s3_large", async name =>
    {
        await cluster.CreateDatabaseAsync(name);
        await cluster.PsqlAsync(name, string.Create(CultureInfo.InvariantCulture, $"""
            CREATE TABLE payload (id integer PRIMARY KEY, body text NOT NULL);
            INSERT INTO payload SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, {LargeRows}) g;
            CREATE TABLE small (id integer PRIMARY KEY);
            INSERT INTO small SELECT generate_series(1, 10);
            """));
    });

    /// <summary>A backup request of <paramref name="database"/> into <paramref name="repository"/>; uncompressed so sizes are predictable.</summary>
    public static BackupRequest Request(PostgresFixture postgres, string database, IBackupRepository repository, BackupCompression compression = BackupCompression.None) => new()
    {
        Database = database,
        Connection = postgres.Connection(),
        Repository = repository,
        Compression = compression,
        BackupType = "automated",
    };

    /// <summary>
    /// Downloads the backup's artifact (checking size and SHA-256 against the backup), restores it
    /// with plain pg_restore into a new database and checks every table has the source's row count.
    /// </summary>
    public static async Task AssertDownloadRestoresSameRowsAsync(PostgresCluster cluster, IBackupRepository repository, BackupInfo backup)
    {
        using var folder = new TempFolder("pgbackup-store-download");
        var dumpFile = Path.Combine(folder.Path, "backup.dump");
        var (sha256, size) = await StoredObjects.DownloadAsync(repository, backup.ArtifactKey!, dumpFile);
        Assert.Equal(backup.Sha256, sha256);
        Assert.Equal(backup.SizeBytes, size);

        var restored = PostgresFixture.UniqueName("store_restored");
        await cluster.CreateDatabaseAsync(restored);
        await ProcessRunner.RunAsync(cluster.Tool("pg_restore"), ["--no-owner", "--exit-on-error", "-h", cluster.SocketDirectory, "-p", cluster.Port.ToString(CultureInfo.InvariantCulture), "-U", PostgresCluster.Superuser, "-d", restored, dumpFile]);
        Assert.Equal(await cluster.RowCountsAsync(backup.Database), await cluster.RowCountsAsync(restored));
    }

    private static async Task<string> CreateOnceAsync(PostgresCluster cluster, Dictionary<int, string> cache, string prefix, Func<string, Task> create)
    {
        await Gate.WaitAsync();
        try
        {
            if (!cache.TryGetValue(cluster.Port, out var name))
            {
                name = PostgresFixture.UniqueName(prefix);
                await create(name);
                cache[cluster.Port] = name;
            }

            return name;
        }
        finally
        {
            Gate.Release();
        }
    }
}

/// <summary>Steps the upload tests of every object store share (S3 multipart, Azure staged blocks).</summary>
internal static class UploadTestSteps
{
    /// <summary>Kills the session of the pg_dump that is dumping <paramref name="database"/> (in the middle of its COPY).</summary>
    public static async Task TerminateDumpAsync(PostgresCluster cluster, string database)
    {
        var terminated = await cluster.PsqlAsync("postgres",
            $"SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = {PostgresCluster.QuoteLiteral(database)} AND query LIKE 'COPY %' AND pid <> pg_backend_pid();");
        Assert.Equal("1", terminated.Trim());
    }

    /// <summary>
    /// Writes 40 MiB into <paramref name="content"/> while the proxy holds the part uploads: the writer must
    /// stay blocked once (2 in flight + 1) parts of <paramref name="partSize"/> are buffered. Releases the
    /// hold, waits for the writer and returns the SHA-256 and length of what was written.
    /// </summary>
    public static async Task<(string Sha256, long Size)> AssertWriterIsHeldBackAsync<TOperation>(Stream content, RequestHold<TOperation> hold, long partSize)
        where TOperation : struct, Enum
    {
        var chunk = new byte[1024 * 1024];
        Random.Shared.NextBytes(chunk);
        long accepted = 0;
        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < 40; i++)
            {
                await content.WriteAsync(chunk);
                Interlocked.Add(ref accepted, chunk.Length);
            }
        });

        await hold.WaitForHeldAsync(2, TimeSpan.FromSeconds(60));
        // Give the writer every chance to run ahead; it must stay blocked (this waits, it does not assert time).
        await Task.WhenAny(writer, Task.Delay(TimeSpan.FromSeconds(2)));
        Assert.False(writer.IsCompleted, "the writer ran ahead of the uploads");
        Assert.True(Interlocked.Read(ref accepted) <= 3 * partSize, $"{Interlocked.Read(ref accepted)} bytes buffered with 2 parts in flight");
        Assert.Equal(2, hold.HeldCount);

        hold.Release();
        await writer;
        using var expected = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (var i = 0; i < 40; i++)
        {
            expected.AppendData(chunk);
        }

        return (Convert.ToHexString(expected.GetHashAndReset()).ToLowerInvariant(), 40L * chunk.Length);
    }

    /// <summary>The prefix holds exactly one object, a Failed manifest; returns it.</summary>
    public static async Task<BackupInfo> SingleFailedManifestAsync(IStoreUnderTest store, IBackupRepository repository, string prefix)
    {
        var manifestKey = Assert.Single(await store.ListKeysAsync(prefix));
        Assert.EndsWith(BackupNaming.ManifestSuffix, manifestKey, StringComparison.Ordinal);
        var failed = await new BackupCatalog(repository).ReadAsync(manifestKey[(prefix.Length + 1)..], CancellationToken.None);
        Assert.Equal(BackupStatus.Failed, failed.Status);
        return failed;
    }
}
