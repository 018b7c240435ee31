using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using PgBackup.Catalog;
using PgBackup.Storage;

namespace PgBackup.Tests.Integration;

/// <summary>
/// Writes backups with chosen timestamps into any repository the way BackupService commits them:
/// artifact through <see cref="IBackupRepository.BeginArtifactAsync"/>, then the manifest
/// (<see cref="ManifestSerializer"/>) as the commit marker. Failed attempts get a manifest only.
/// </summary>
internal static class SyntheticBackups
{
    public static async Task<BackupInfo> WriteAsync(IBackupRepository repository, string database, DateTime startedUtc, BackupStatus status, string hex)
    {
        var id = BackupNaming.CreateId(database, startedUtc, hex);
        var artifactKey = BackupNaming.ArtifactKey(id, startedUtc, ".dump");
        string? artifact = null;
        string? sha256 = null;
        long size = 0;
        if (status == BackupStatus.Succeeded)
        {
            // Sizes differ per backup so "bytes freed" is checked against the exact artifacts removed.
            var content = Encoding.UTF8.GetBytes($"synthetic archive of {database} taken {startedUtc:O} " + new string('x', startedUtc.Day * 7));
            await using var upload = await repository.BeginArtifactAsync(artifactKey, new ArtifactMetadata(database, startedUtc, "automated", "test"), content.Length, CancellationToken.None);
            await upload.Content.WriteAsync(content);
            sha256 = Convert.ToHexString(SHA256.HashData(content)).ToLowerInvariant();
            await upload.CommitAsync(sha256, content.Length, CancellationToken.None);
            artifact = artifactKey[(artifactKey.LastIndexOf('/') + 1)..];
            size = content.Length;
        }

        var manifest = new BackupManifest
        {
            Tool = "PgBackup",
            ToolVersion = "test",
            Id = id,
            Database = database,
            Server = "127.0.0.1:5432",
            StartedAt = startedUtc,
            CompletedAt = startedUtc.AddSeconds(30),
            DurationSeconds = 30,
            Format = BackupFormat.Custom,
            Compression = BackupCompression.Gzip,
            Artifact = artifact,
            SizeBytes = size,
            Sha256 = sha256,
            Status = status,
            Error = status == BackupStatus.Failed ? "synthetic failure" : null,
        };
        var manifestKey = BackupNaming.ManifestKeyFor(artifactKey);
        await repository.WriteSmallObjectAsync(manifestKey, ManifestSerializer.Serialize(manifest), metadata: null, CancellationToken.None);
        return new BackupCatalog(repository).ToBackupInfo(manifest, manifestKey);
    }
}

/// <summary>
/// 60 days of backups with chosen timestamps, and each rule's exact survivors. Shared by every
/// repository kind, so local and S3 are held to the same answers.
/// </summary>
internal static class SixtyDayScenario
{
    /// <summary>"Now" for the policy: the evening of the last day.</summary>
    public static readonly DateTime Now = new(2026, 3, 1, 18, 0, 0, DateTimeKind.Utc);

    private static readonly DateTime FirstDay = new(2026, 1, 1, 1, 0, 0, DateTimeKind.Utc);

    /// <summary>
    /// shop: one Succeeded backup a day at 01:00 UTC from 2026-01-01 to 2026-03-01 (60 days), and
    /// Failed attempts at 13:00 on Feb 27 and Mar 1. crm: Succeeded on Jan 1, 2 and 3 only.
    /// </summary>
    public static async Task<IReadOnlyList<BackupInfo>> WriteAsync(IBackupRepository repository)
    {
        var written = new List<BackupInfo>();
        for (var day = 0; day < 60; day++)
        {
            written.Add(await SyntheticBackups.WriteAsync(repository, "shop", FirstDay.AddDays(day), BackupStatus.Succeeded, day.ToString("x4", CultureInfo.InvariantCulture)));
        }

        written.Add(await SyntheticBackups.WriteAsync(repository, "shop", new DateTime(2026, 2, 27, 13, 0, 0, DateTimeKind.Utc), BackupStatus.Failed, "f001"));
        written.Add(await SyntheticBackups.WriteAsync(repository, "shop", new DateTime(2026, 3, 1, 13, 0, 0, DateTimeKind.Utc), BackupStatus.Failed, "f002"));
        for (var day = 0; day < 3; day++)
        {
            written.Add(await SyntheticBackups.WriteAsync(repository, "crm", FirstDay.AddDays(day), BackupStatus.Succeeded, "c00" + day.ToString(CultureInfo.InvariantCulture)));
        }

        return written;
    }

    public static IEnumerable<object[]> Cases()
    {
        yield return ["KeepLast 3", Labels(["shop 03-01 F", "shop 03-01 S", "shop 02-28 S", "shop 02-27 F", "shop 02-27 S", "crm 01-03 S", "crm 01-02 S", "crm 01-01 S"])];
        // Cut-off Feb 22 18:00: 7 days of shop; crm is entirely older and keeps only its newest good backup.
        yield return ["RetentionDays 7", Labels(["shop 03-01 F", .. ShopDays("02-23", "03-01"), "shop 02-27 F", "crm 01-03 S"])];
        yield return ["KeepDaily 5", Labels(["shop 03-01 F", .. ShopDays("02-25", "03-01"), "shop 02-27 F", "crm 01-03 S", "crm 01-02 S", "crm 01-01 S"])];
        // ISO weeks: W09 = Feb 23-Mar 1, W08 ends Sun Feb 22, W07 Feb 15, W06 Feb 8. Both failures are in W09. crm: all in 2026-W01.
        yield return ["KeepWeekly 4", Labels(["shop 03-01 F", "shop 03-01 S", "shop 02-22 S", "shop 02-15 S", "shop 02-08 S", "crm 01-03 S"])];
        yield return ["KeepMonthly 2", Labels(["shop 03-01 F", "shop 03-01 S", "shop 02-28 S", "shop 02-27 F", "crm 01-03 S"])];
        yield return ["KeepDaily 7 KeepWeekly 4 KeepMonthly 3",
            Labels(["shop 03-01 F", .. ShopDays("02-23", "03-01"), "shop 02-27 F", "shop 02-22 S", "shop 02-15 S", "shop 02-08 S", "shop 01-31 S", "crm 01-03 S", "crm 01-02 S", "crm 01-01 S"])];
        yield return ["RetentionDays 1", Labels(["shop 03-01 F", "shop 03-01 S", "crm 01-03 S"])];
    }

    /// <summary>A backup in the scenario's short form: "shop 02-27 S" (S = Succeeded, F = Failed).</summary>
    public static string ShortLabel(BackupInfo backup)
        => string.Create(CultureInfo.InvariantCulture, $"{backup.Database} {backup.StartedAt:MM-dd} {(backup.Status == BackupStatus.Succeeded ? "S" : "F")}");

    private static string[] Labels(string[] labels) => labels;

    private static IEnumerable<string> ShopDays(string from, string to)
    {
        var first = DateTime.ParseExact("2026-" + from, "yyyy-MM-dd", CultureInfo.InvariantCulture);
        var last = DateTime.ParseExact("2026-" + to, "yyyy-MM-dd", CultureInfo.InvariantCulture);
        for (var day = last; day >= first; day = day.AddDays(-1))
        {
            yield return string.Create(CultureInfo.InvariantCulture, $"shop {day:MM-dd} S");
        }
    }
}

/// <summary>A policy written as "KeepDaily 7 KeepWeekly 4" (readable theory data).</summary>
internal readonly record struct RetentionPolicyText(string Text)
{
    public Retention.RetentionPolicy ToPolicy()
    {
        var parts = Text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var policy = new Retention.RetentionPolicy();
        for (var i = 0; i < parts.Length; i += 2)
        {
            var value = int.Parse(parts[i + 1], CultureInfo.InvariantCulture);
            policy = parts[i] switch
            {
                "RetentionDays" => policy with { RetentionDays = value },
                "KeepLast" => policy with { KeepLast = value },
                "KeepDaily" => policy with { KeepDaily = value },
                "KeepWeekly" => policy with { KeepWeekly = value },
                "KeepMonthly" => policy with { KeepMonthly = value },
                _ => throw new ArgumentException($"Unknown rule {parts[i]}"),
            };
        }

        return policy;
    }
}
