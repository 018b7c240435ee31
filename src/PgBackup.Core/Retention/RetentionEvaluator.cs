using System.Globalization;
using PgBackup.Catalog;

namespace PgBackup.Retention;

/// <summary>The rule that keeps a backup.</summary>
internal enum RetentionRule
{
    /// <summary>The safety rule: the newest Succeeded backup of a database is never expired.</summary>
    NewestSucceeded,
    RetentionDays,
    KeepLast,
    KeepDaily,
    KeepWeekly,
    KeepMonthly,

    /// <summary>Started more than the clock skew after now: never counted, never expired, never the newest.</summary>
    FutureDated,
}

/// <summary>Why a backup is kept: the rule and what it matched (rank, day, ISO week or month).</summary>
internal sealed record RetentionReason(RetentionRule Rule, string Detail)
{
    public override string ToString() => $"{Rule} ({Detail})";
}

/// <summary>The verdict on one backup: kept when at least one reason keeps it, else expired.</summary>
internal sealed record RetentionDecision(BackupInfo Backup, IReadOnlyList<RetentionReason> Reasons)
{
    public bool Keep => Reasons.Count > 0;

    public bool KeptBy(RetentionRule rule) => Reasons.Any(reason => reason.Rule == rule);

    public override string ToString() => Keep ? $"keep {Backup.Id}: {string.Join(", ", Reasons)}" : $"expire {Backup.Id}";
}

/// <summary>Every verdict, grouped by repository and database, newest first within each.</summary>
internal sealed record RetentionEvaluation(IReadOnlyList<RetentionDecision> Decisions)
{
    public IEnumerable<RetentionDecision> Kept => Decisions.Where(decision => decision.Keep);

    public IEnumerable<RetentionDecision> Expired => Decisions.Where(decision => !decision.Keep);
}

/// <summary>
/// The retention policy as a pure function: backups + policy + now + time zone in, a verdict with
/// its reasons for every backup out. No I/O, no clock: the same input always gives the same answer.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>Each (repository, database) is evaluated on its own.</item>
/// <item>Order is newest first by StartedAt, then by Id (ordinal, descending): ties in the same
/// second are broken the same way every time, and the same way <c>Get-PgBackupInfo</c> lists.</item>
/// <item>Count rules rank Succeeded backups and Failed attempts as two separate series under the
/// same numbers: "-KeepLast 3" keeps the 3 newest good backups and the 3 newest failed attempts.
/// A failed attempt can therefore never push a good backup out, while the recent failures (tiny
/// manifests, no artifact) stay visible for diagnosis and for <c>-Summary</c>.</item>
/// <item>Calendar rules bucket StartedAt in the given time zone (a day is the local calendar date,
/// so DST days of 23 or 25 hours are one day each); weeks are ISO-8601 (Monday first, week-year).
/// Buckets are tracked as a set, not as runs of equal dates, so the result never depends on local
/// time moving forward monotonically.</item>
/// <item>RetentionDays is an age: StartedAt at or after now minus N×24 hours.</item>
/// <item>Whatever the policy, the newest Succeeded backup of each database is kept.</item>
/// <item>A backup started more than <see cref="BackupCatalog.ClockSkew"/> after now is kept and takes part in no rule.</item>
/// </list>
/// </remarks>
internal static class RetentionEvaluator
{
    public static RetentionEvaluation Evaluate(IEnumerable<BackupInfo> backups, RetentionPolicy policy, DateTime now, TimeZoneInfo timeZone)
    {
        ArgumentNullException.ThrowIfNull(backups);
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(timeZone);
        policy.Validate();

        var nowUtc = now.Kind == DateTimeKind.Local ? now.ToUniversalTime() : DateTime.SpecifyKind(now, DateTimeKind.Utc);
        var decisions = new List<RetentionDecision>();
        var groups = backups
            // Globals are their own series: they neither count for nor keep a database's backups.
            .GroupBy(backup => (backup.Repository, backup.Kind, backup.Database))
            .OrderBy(group => group.Key.Repository, StringComparer.Ordinal)
            .ThenBy(group => group.Key.Kind)
            .ThenBy(group => group.Key.Database, StringComparer.Ordinal);
        foreach (var group in groups)
        {
            var ordered = group
                .Distinct() // BackupInfo has reference equality: the same object passed twice counts once
                .OrderByDescending(backup => Utc(backup.StartedAt))
                .ThenByDescending(backup => backup.Id, StringComparer.Ordinal)
                .ThenByDescending(backup => backup.ManifestKey, StringComparer.Ordinal)
                .ToList();
            var reasons = ordered.ToDictionary(backup => backup, _ => new List<RetentionReason>());

            // Dated in the future (a wrong clock, a crafted manifest): kept, but out of every series, so it can
            // neither be the newest good backup nor push a real one out of -KeepLast, and no age makes it expire.
            var future = ordered.Where(backup => BackupCatalog.IsFutureDated(Utc(backup.StartedAt), nowUtc)).ToHashSet();
            foreach (var backup in future)
            {
                reasons[backup].Add(new RetentionReason(RetentionRule.FutureDated, "started in the future"));
            }

            foreach (var status in new[] { BackupStatus.Succeeded, BackupStatus.Failed })
            {
                var series = ordered.Where(backup => backup.Status == status && !future.Contains(backup)).ToList();
                if (status == BackupStatus.Succeeded && series.Count > 0)
                {
                    reasons[series[0]].Add(new RetentionReason(RetentionRule.NewestSucceeded, "newest succeeded backup of the database"));
                }

                ApplyAge(series, policy.RetentionDays, nowUtc, reasons);
                ApplyKeepLast(series, policy.KeepLast, status, reasons);
                ApplyBuckets(series, policy.KeepDaily, RetentionRule.KeepDaily, timeZone, DayOf, reasons);
                ApplyBuckets(series, policy.KeepWeekly, RetentionRule.KeepWeekly, timeZone, IsoWeekOf, reasons);
                ApplyBuckets(series, policy.KeepMonthly, RetentionRule.KeepMonthly, timeZone, MonthOf, reasons);
            }

            decisions.AddRange(ordered.Select(backup => new RetentionDecision(backup, reasons[backup])));
        }

        return new RetentionEvaluation(decisions);
    }

    private static void ApplyAge(List<BackupInfo> series, int? days, DateTime nowUtc, Dictionary<BackupInfo, List<RetentionReason>> reasons)
    {
        if (days is not { } retentionDays)
        {
            return;
        }

        var cutoff = nowUtc - TimeSpan.FromDays(retentionDays);
        foreach (var backup in series.Where(backup => Utc(backup.StartedAt) >= cutoff))
        {
            reasons[backup].Add(new RetentionReason(RetentionRule.RetentionDays, string.Create(CultureInfo.InvariantCulture, $"started within {retentionDays} days")));
        }
    }

    private static void ApplyKeepLast(List<BackupInfo> series, int? count, BackupStatus status, Dictionary<BackupInfo, List<RetentionReason>> reasons)
    {
        if (count is not { } keepLast)
        {
            return;
        }

        var label = status == BackupStatus.Succeeded ? "succeeded" : "failed";
        for (var rank = 0; rank < Math.Min(keepLast, series.Count); rank++)
        {
            reasons[series[rank]].Add(new RetentionReason(RetentionRule.KeepLast, string.Create(CultureInfo.InvariantCulture, $"{rank + 1} of the {keepLast} newest {label}")));
        }
    }

    private static void ApplyBuckets(
        List<BackupInfo> series,
        int? count,
        RetentionRule rule,
        TimeZoneInfo timeZone,
        Func<DateTime, string> bucketOf,
        Dictionary<BackupInfo, List<RetentionReason>> reasons)
    {
        if (count is not { } buckets || buckets == 0)
        {
            return;
        }

        // Newest first, so the first backup seen in a bucket is that bucket's newest.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var backup in series)
        {
            var bucket = bucketOf(TimeZoneInfo.ConvertTimeFromUtc(Utc(backup.StartedAt), timeZone));
            if (seen.Add(bucket))
            {
                reasons[backup].Add(new RetentionReason(rule, bucket));
                if (seen.Count == buckets)
                {
                    return;
                }
            }
        }
    }

    private static string DayOf(DateTime local) => local.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    private static string IsoWeekOf(DateTime local)
        => string.Create(CultureInfo.InvariantCulture, $"{ISOWeek.GetYear(local):D4}-W{ISOWeek.GetWeekOfYear(local):D2}");

    private static string MonthOf(DateTime local) => local.ToString("yyyy-MM", CultureInfo.InvariantCulture);

    private static DateTime Utc(DateTime value)
        => value.Kind switch
        {
            DateTimeKind.Local => value.ToUniversalTime(),
            DateTimeKind.Unspecified => DateTime.SpecifyKind(value, DateTimeKind.Utc),
            _ => value,
        };
}
