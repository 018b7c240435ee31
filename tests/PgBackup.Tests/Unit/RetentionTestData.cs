using System.Globalization;
using PgBackup.Catalog;

namespace PgBackup.Tests.Unit;

/// <summary>BackupInfo objects with chosen timestamps, for the pure retention and summary tests.</summary>
internal static class RetentionTestData
{
    public const string Repository = "/repo";

    public static DateTime Utc(string iso)
        => DateTime.ParseExact(iso, "yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);

    public static BackupInfo Make(
        string startedUtc,
        BackupStatus status = BackupStatus.Succeeded,
        string database = "shop",
        string hex = "0000",
        string repository = Repository,
        double durationSeconds = 10,
        long sizeBytes = 1000)
    {
        var started = Utc(startedUtc);
        var id = BackupNaming.CreateId(database, started, hex);
        var artifactKey = status == BackupStatus.Succeeded ? BackupNaming.ArtifactKey(id, started, ".dump") : null;
        var manifestKey = BackupNaming.ManifestKeyFor(artifactKey ?? BackupNaming.ArtifactKey(id, started, ".dump"));
        return new BackupInfo
        {
            Id = id,
            Database = database,
            Server = "127.0.0.1:5432",
            StartedAt = started,
            CompletedAt = started.AddSeconds(durationSeconds),
            Status = status,
            SizeBytes = status == BackupStatus.Succeeded ? sizeBytes : 0,
            ArtifactKey = artifactKey,
            Location = artifactKey is null ? null : repository + "/" + artifactKey,
            ManifestKey = manifestKey,
            ManifestLocation = repository + "/" + manifestKey,
            Repository = repository,
        };
    }
}
