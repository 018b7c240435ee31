using System.Management.Automation;
using PgBackup.Errors;

namespace PgBackup;

/// <summary>Maps core failures to ErrorRecords: the ErrorId is the stable contract scripts match on.</summary>
internal static class ErrorRecords
{
    /// <summary>
    /// What the user can do about a failure, by ErrorId, where the fix is known (shown by Get-Error and
    /// $Error[0].ErrorDetails.RecommendedAction). Ids whose cause varies (PgDumpFailed, RestoreFailed, UnexpectedError…) have none.
    /// </summary>
    private static readonly Dictionary<string, string> RecommendedActions = new(StringComparer.Ordinal)
    {
        ["ConnectionFailed"] = "Check that the server is running and reachable at -Server and -Port (or the connection string), and that a firewall lets you through.",
        ["AuthenticationFailed"] = "Check the user name and password (-Credential, the connection string, PGPASSWORD or the password file) and the server's pg_hba.conf rules.",
        ["DatabaseNotFound"] = "Check the database name (Get-PgBackupInfo lists what was backed up; psql -l lists the server's databases), or create the database first.",
        ["NoDatabaseMatched"] = "Check the wildcard and -ExcludeDatabase against the server's databases (psql -l); names are case-sensitive, and templates and databases that refuse connections are never matched.",
        ["InvalidStorageClass"] = "Use one of the S3 storage classes: " + string.Join(", ", Storage.S3.S3StorageClasses.Known) + ".",
        ["PgToolNotFound"] = "Install the PostgreSQL client tools (pg_dump, pg_restore, psql), or set $env:PGBACKUP_PG_BIN to the folder that holds them.",
        ["PgToolVersionMismatch"] = "Install PostgreSQL client tools at least as new as the server, or set $env:PGBACKUP_PG_BIN to the folder that holds them.",
        ["RepositoryNotFound"] = "Check the -Repository location (folder, bucket or container name) and create it if it should exist.",
        ["RepositoryFull"] = "Free space in the repository (Remove-PgBackupExpired) or move it to a larger volume, then run the backup again; nothing partial was kept as a backup.",
        ["RepositoryAccessDenied"] = "Check the credentials and permissions for the repository (folder rights, S3 policy, Azure role or SAS) for listing, reading and writing.",
        ["RepositoryUnreachable"] = "Check the network path and endpoint of the repository (-S3Endpoint, the Azure account URL), then try again.",
        ["InvalidRepository"] = "Give a folder path, s3://bucket/prefix, az://container/prefix or an Azure Blob URL without a SAS token as -Repository.",
        ["InvalidConnectionString"] = "Correct the connection string (key=value pairs or a postgresql:// URI); keep the password out of it and use -Credential instead.",
        ["BackupPathNotFound"] = "Check the -Path pattern (Get-ChildItem with the same pattern shows what it matches), or list the backups with Get-PgBackupInfo -Repository <folder>.",
        ["InvalidRetentionPolicy"] = "Give at least one rule (-RetentionDays, -KeepLast, -KeepDaily, -KeepWeekly, -KeepMonthly), each zero or more.",
        ["ConfirmationNotPossible"] = "Leave out -Confirm (and keep $ConfirmPreference above Low) in unattended sessions, or run the command where someone can answer.",
        ["ReplaceNotConfirmed"] = "Add -Force to replace the database unattended, or -TargetDatabase to restore into a new database.",
        ["UnsafeDump"] = "Do not restore this dump: it was not written by pg_dump as it is. Restore an earlier backup, and find out who could write to the repository.",
        ["BackupCorrupt"] = "Do not restore this backup: restore or test an earlier one (Get-PgBackupInfo -Database <name>), and check the repository's storage.",
        ["BackupTestFailed"] = "See the TestResult's FailedChecks for what failed; test or restore an earlier backup instead.",
        ["DecryptionFailed"] = "Give the passphrase or key passphrase the backup was encrypted with; if the message says the data failed its integrity check, do not use this backup: test or restore an earlier one and find out who could write to the repository.",
        ["DecryptionKeyRequired"] = "Give -EncryptionPassphrase (or $env:PGBACKUP_ENCRYPTION_PASSPHRASE) or -DecryptionKey with the secret key of a recipient the message names (Get-PgBackupInfo shows the key fingerprints).",
        ["SignatureInvalid"] = "Do not trust this backup: its manifest is unsigned, signed by a key not given to -TrustedSigningKey, or changed after signing. Check -TrustedSigningKey, or find out who could write to the repository.",
        ["SignatureWriteFailed"] = "The backup is committed but unsigned, so -TrustedSigningKey refuses it: check the repository (space, permissions, network) and take a new signed backup (New-PgBackup -SigningKey).",
        ["KeyFileInvalid"] = "Give an OpenPGP key file as gpg exports it (gpg --export for public keys, gpg --export-secret-keys for secret keys; armored or binary) that holds a valid key for the purpose.",
        ["BackupVerificationFailed"] = "See the error message for the failed checks; take a new backup (New-PgBackup) and test it.",
    };

    public static ErrorRecord From(PgBackupException exception, object? targetObject = null)
    {
        var category = Enum.TryParse<ErrorCategory>(exception.Category.ToString(), out var parsed) ? parsed : ErrorCategory.NotSpecified;
        var record = new ErrorRecord(exception, exception.ErrorId, category, targetObject ?? exception.TargetObject);
        if (RecommendedActions.TryGetValue(exception.ErrorId, out var action))
        {
            // ErrorDetails replaces the shown message: it stays the exception's own.
            record.ErrorDetails = new ErrorDetails(exception.Message) { RecommendedAction = action };
        }

        return record;
    }
}
