using PgBackup.Connection;
using PgBackup.Storage;

namespace PgBackup.Restore;

/// <summary>One backup to restore, where to, and how.</summary>
internal sealed record RestoreRequest
{
    public required BackupInfo Backup { get; init; }

    /// <summary>The repository that holds the backup.</summary>
    public required IBackupRepository Repository { get; init; }

    /// <summary>The server to restore to (its Database, if any, is not used: see <see cref="TargetDatabase"/>).</summary>
    public required PgConnectionSettings Connection { get; init; }

    /// <summary>Opens an encrypted backup; null (or none fits) is DecryptionKeyRequired before the server is touched.</summary>
    public Encryption.OpenPgpDecryption? Decryption { get; init; }

    /// <summary>The database to create or replace; null means the backup's own database name.</summary>
    public string? TargetDatabase { get; init; }

    /// <summary>Parallel pg_restore jobs; above 1 only for the custom format, which then goes through a temporary file.</summary>
    public int Jobs { get; init; } = 1;

    /// <summary>Restore without ownership and privileges (--no-owner --no-acl): objects belong to the connecting user.</summary>
    public bool NoOwner { get; init; }

    /// <summary>After a replace, drop the previous database instead of keeping it as &lt;target&gt;_pre_restore_&lt;timestamp&gt;.</summary>
    public bool DropPrevious { get; init; }

    /// <summary>Drop leftover working databases of interrupted restores and tests older than an hour (-Force) instead of only warning.</summary>
    public bool DropLeftovers { get; init; }

    public string EffectiveTargetDatabase => TargetDatabase ?? Backup.Database;
}

/// <summary>
/// What a restore is going to do, decided before anything changes: the confirmation prompt and
/// -WhatIf describe exactly this.
/// </summary>
internal sealed record RestorePlan
{
    public required string Server { get; init; }

    public required string TargetDatabase { get; init; }

    /// <summary>True when the target exists and will be replaced through a staging database and a swap.</summary>
    public required bool TargetExists { get; init; }

    /// <summary>The staging database the backup is restored into, for a new target and a replace alike.</summary>
    public string? StagingDatabase { get; init; }

    /// <summary>The name the replaced database would get if the swap happened now (null for a new target).</summary>
    public string? PreviousDatabase { get; init; }

    public bool DropPrevious { get; init; }

    /// <summary>One sentence for -WhatIf and -Verbose, naming every database the restore creates or renames.</summary>
    public string Describe(BackupInfo backup)
    {
        if (!TargetExists)
        {
            return $"Create database \"{TargetDatabase}\" on {Server} from backup {backup.Id}: restore into the staging database \"{StagingDatabase}\" " +
                $"and rename it to \"{TargetDatabase}\" only once the restore succeeded.";
        }

        var afterwards = DropPrevious
            ? $"then drop \"{PreviousDatabase}\""
            : $"and keep it";
        return $"Replace database \"{TargetDatabase}\" on {Server} with backup {backup.Id}: restore into the staging database \"{StagingDatabase}\"; " +
            $"only if that succeeds, disconnect \"{TargetDatabase}\", rename it to \"{PreviousDatabase}\" {afterwards}, and rename \"{StagingDatabase}\" to \"{TargetDatabase}\".";
    }
}
