namespace PgBackup;

/// <summary>
/// What Restore-PgBackup did. The full type name <c>PgBackup.RestoreResult</c> is part of the public
/// contract: format views select on it.
/// </summary>
public sealed class RestoreResult
{
    /// <summary>The backup that was restored.</summary>
    public required BackupInfo Backup { get; init; }

    /// <summary>host:port of the server restored to, never with credentials.</summary>
    public required string Server { get; init; }

    public required string TargetDatabase { get; init; }

    /// <summary>True when an existing database was replaced (swapped out), false when a new one was created.</summary>
    public bool Replaced { get; init; }

    /// <summary>
    /// The name the replaced database now has (<c>&lt;target&gt;_pre_restore_&lt;yyyyMMddHHmmss&gt;</c>);
    /// null when nothing was replaced or the previous database was dropped (-DropPrevious).
    /// </summary>
    public string? PreviousDatabase { get; init; }

    public TimeSpan Duration { get; init; }

    /// <summary>A Globals restore: the roles and tablespaces it created ("role app", "tablespace fast").</summary>
    public IReadOnlyList<string> Created { get; init; } = [];

    /// <summary>A Globals restore: the statements not run, each with why (password hashes shown as '***').</summary>
    public IReadOnlyList<string> Skipped { get; init; } = [];

    /// <summary>A Globals restore: the statements that failed, each with the server's error (password hashes shown as '***').</summary>
    public IReadOnlyList<string> Failed { get; init; } = [];

    public override string ToString() => $"{TargetDatabase} on {Server} from {Backup.Id}";
}
