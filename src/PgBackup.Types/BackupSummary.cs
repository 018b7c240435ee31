namespace PgBackup;

/// <summary>
/// Metrics of one database's backups in one repository (<c>Get-PgBackupInfo -Summary</c>). The full
/// type name <c>PgBackup.BackupSummary</c> is part of the public contract: format views select on it.
/// </summary>
public sealed class BackupSummary
{
    public required string Repository { get; init; }

    public required string Database { get; init; }

    /// <summary>Backups and failed attempts counted.</summary>
    public int Count { get; init; }

    public int SucceededCount { get; init; }

    public int FailedCount { get; init; }

    /// <summary>SucceededCount / Count, from 0 to 1 (0.95 is 95 %).</summary>
    public double SuccessRate { get; init; }

    /// <summary>Stored bytes of all counted backups (failed attempts store none).</summary>
    public long TotalSizeBytes { get; init; }

    /// <summary>StartedAt (UTC) of the oldest counted backup or attempt.</summary>
    public DateTime Oldest { get; init; }

    /// <summary>StartedAt (UTC) of the newest counted backup or attempt.</summary>
    public DateTime Newest { get; init; }

    /// <summary>StartedAt (UTC) of the newest Succeeded backup; null when none succeeded.</summary>
    public DateTime? LastSucceededAt { get; init; }

    /// <summary>Mean duration of the Succeeded backups (failures end early and would skew it); null when none.</summary>
    public TimeSpan? AverageDuration { get; init; }

    public override string ToString() => $"{Database}: {SucceededCount}/{Count} succeeded";
}
