namespace PgBackup.Catalog;

/// <summary>Turns a list of backups into one <see cref="BackupSummary"/> per repository and database (pure).</summary>
internal static class BackupSummaries
{
    /// <summary>One summary per (repository, database), ordered by repository then database name.</summary>
    public static IReadOnlyList<BackupSummary> Summarize(IEnumerable<BackupInfo> backups)
    {
        ArgumentNullException.ThrowIfNull(backups);
        return backups
            .GroupBy(backup => (backup.Repository, backup.Kind, backup.Database))
            .OrderBy(group => group.Key.Repository, StringComparer.Ordinal)
            .ThenBy(group => group.Key.Kind)
            .ThenBy(group => group.Key.Database, StringComparer.Ordinal)
            .Select(group => Summarize(group.Key.Repository, group.Key.Database, group.ToList()))
            .ToList();
    }

    private static BackupSummary Summarize(string repository, string database, List<BackupInfo> backups)
    {
        var succeeded = backups.Where(backup => backup.Status == BackupStatus.Succeeded).ToList();
        var durations = succeeded.Select(backup => backup.Duration).OfType<TimeSpan>().ToList();
        return new BackupSummary
        {
            Repository = repository,
            Database = database,
            Count = backups.Count,
            SucceededCount = succeeded.Count,
            FailedCount = backups.Count - succeeded.Count,
            SuccessRate = (double)succeeded.Count / backups.Count,
            TotalSizeBytes = backups.Sum(backup => backup.SizeBytes),
            Oldest = backups.Min(backup => backup.StartedAt),
            Newest = backups.Max(backup => backup.StartedAt),
            LastSucceededAt = succeeded.Count == 0 ? null : succeeded.Max(backup => backup.StartedAt),
            // Mean of ticks: exact, and no overflow for any realistic number of backups.
            AverageDuration = durations.Count == 0 ? null : TimeSpan.FromTicks((long)durations.Average(duration => (decimal)duration.Ticks)),
        };
    }
}
