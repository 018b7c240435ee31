namespace PgBackup.Errors;

/// <summary>
/// Mirrors the subset of PowerShell's ErrorCategory that PgBackup uses, so the core can classify
/// failures without referencing System.Management.Automation. The cmdlet layer maps by name.
/// </summary>
internal enum FailureCategory
{
    NotSpecified,
    ConnectionError,
    AuthenticationError,
    ObjectNotFound,
    InvalidArgument,
    InvalidData,
    InvalidOperation,
    InvalidResult,
    NotInstalled,
    NotImplemented,
    OperationStopped,
    PermissionDenied,
    ReadError,
    WriteError,
    ResourceUnavailable,
}

/// <summary>
/// Base of every failure the core reports on purpose. <see cref="ErrorId"/> is part of the public
/// contract: scripts match on it, so an id never changes once released.
/// </summary>
internal class PgBackupException : Exception
{
    public PgBackupException(string errorId, FailureCategory category, string message, object? targetObject = null, Exception? innerException = null)
        : base(message, innerException)
    {
        ErrorId = errorId;
        Category = category;
        TargetObject = targetObject;
    }

    public string ErrorId { get; }

    public FailureCategory Category { get; }

    public object? TargetObject { get; }
}

internal sealed class ConnectionFailedException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("ConnectionFailed", FailureCategory.ConnectionError, message, target, inner);

internal sealed class AuthenticationFailedException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("AuthenticationFailed", FailureCategory.AuthenticationError, message, target, inner);

internal sealed class DatabaseNotFoundException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("DatabaseNotFound", FailureCategory.ObjectNotFound, message, target, inner);

internal sealed class PgToolNotFoundException(string message, object? target = null)
    : PgBackupException("PgToolNotFound", FailureCategory.NotInstalled, message, target);

internal sealed class PgToolVersionMismatchException(string message, object? target = null)
    : PgBackupException("PgToolVersionMismatch", FailureCategory.NotInstalled, message, target);

internal sealed class PgDumpFailedException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("PgDumpFailed", FailureCategory.InvalidResult, message, target, inner);

internal sealed class RepositoryNotFoundException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("RepositoryNotFound", FailureCategory.ObjectNotFound, message, target, inner);

internal sealed class RepositoryWriteFailedException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("RepositoryWriteFailed", FailureCategory.WriteError, message, target, inner);

/// <summary>The repository's disk (or quota) ran out of space while a backup was being written.</summary>
internal sealed class RepositoryFullException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("RepositoryFull", FailureCategory.WriteError, message, target, inner);

internal sealed class RepositoryReadFailedException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("RepositoryReadFailed", FailureCategory.ReadError, message, target, inner);

internal sealed class RepositoryUnreachableException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("RepositoryUnreachable", FailureCategory.ConnectionError, message, target, inner);

internal sealed class RepositoryAccessDeniedException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("RepositoryAccessDenied", FailureCategory.PermissionDenied, message, target, inner);

internal sealed class InvalidRepositoryException(string message, object? target = null)
    : PgBackupException("InvalidRepository", FailureCategory.InvalidArgument, message, target);

/// <summary>A create-only write found its key taken (a name drawn twice, or another writer): nothing was overwritten.</summary>
internal sealed class RepositoryObjectExistsException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("RepositoryObjectExists", FailureCategory.WriteError, message, target, inner);

/// <summary>-StorageClass names no S3 storage class: refused before anything runs.</summary>
internal sealed class InvalidStorageClassException(string message, object? target = null)
    : PgBackupException("InvalidStorageClass", FailureCategory.InvalidArgument, message, target);

/// <summary>
/// No database matched a -Database wildcard (or -ExcludeDatabase left none): refused before anything runs, nothing is
/// written, so a typo in a nightly job is an error rather than a "Failed backup" of a database that does not exist.
/// </summary>
internal sealed class NoDatabaseMatchedException(string message, object? target = null)
    : PgBackupException("NoDatabaseMatched", FailureCategory.ObjectNotFound, message, target);

internal sealed class InvalidManifestException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("InvalidManifest", FailureCategory.InvalidData, message, target, inner);

internal sealed class InvalidConnectionStringException(string message)
    : PgBackupException("InvalidConnectionString", FailureCategory.InvalidArgument, message);

internal sealed class InvalidBackupRequestException(string message, object? target = null)
    : PgBackupException("InvalidBackupRequest", FailureCategory.InvalidArgument, message, target);

internal sealed class BackupCorruptException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("BackupCorrupt", FailureCategory.InvalidData, message, target, inner);

internal sealed class RestoreFailedException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("RestoreFailed", FailureCategory.InvalidResult, message, target, inner);

internal sealed class BackupNotRestorableException(string message, object? target = null)
    : PgBackupException("BackupNotRestorable", FailureCategory.InvalidArgument, message, target);

internal sealed class InvalidRetentionPolicyException(string message, object? target = null)
    : PgBackupException("InvalidRetentionPolicy", FailureCategory.InvalidArgument, message, target);

/// <summary>-Confirm asked for a confirmation that this session cannot prompt for: nothing was done.</summary>
internal sealed class ConfirmationNotPossibleException(string message, object? target = null)
    : PgBackupException("ConfirmationNotPossible", FailureCategory.InvalidOperation, message, target);

/// <summary>A -Path with wildcards matched no file: nothing was read.</summary>
internal sealed class BackupPathNotFoundException(string message, object? target = null)
    : PgBackupException("BackupPathNotFound", FailureCategory.ObjectNotFound, message, target);

internal sealed class InvalidRestoreRequestException(string message, object? target = null)
    : PgBackupException("InvalidRestoreRequest", FailureCategory.InvalidArgument, message, target);

/// <summary>Replacing an existing database needs a confirmation that a non-interactive host cannot give (-Force gives it).</summary>
internal sealed class ReplaceNotConfirmedException(string message, object? target = null)
    : PgBackupException("ReplaceNotConfirmed", FailureCategory.InvalidOperation, message, target);

/// <summary>A backup did not pass Test-PgBackup (the TestResult names the failed checks).</summary>
internal sealed class BackupTestFailedException(string message, object? target = null)
    : PgBackupException("BackupTestFailed", FailureCategory.InvalidResult, message, target);

/// <summary>New-PgBackup -Verify: the backup just written did not pass the structure test.</summary>
internal sealed class BackupVerificationFailedException(string message, object? target = null)
    : PgBackupException("BackupVerificationFailed", FailureCategory.InvalidResult, message, target);

/// <summary>
/// A failure no part of PgBackup anticipated (a bug, most likely): reported under its own id, naming the exception
/// type, so it is never mistaken for a pg_dump or repository failure.
/// </summary>
internal sealed class UnexpectedErrorException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("UnexpectedError", FailureCategory.NotSpecified, message, target, inner)
{
    /// <summary>Wraps <paramref name="exception"/>: "<paramref name="what"/> failed with an unexpected System.X: its message".</summary>
    /// <param name="what">What was being done ("The backup of \"db\"").</param>
    /// <param name="exception">The unexpected exception, kept as the inner one.</param>
    /// <param name="message">Its message as it may be shown (redacted of any secret the caller knows).</param>
    /// <param name="target">What the error is about.</param>
    public static UnexpectedErrorException For(string what, Exception exception, string message, object? target = null)
        => new($"{what} failed with an unexpected {exception.GetType().FullName}: {message}", target, exception);
}

/// <summary>A plain dump holds psql commands pg_dump never writes (e.g. a shell escape): it is refused before psql starts.</summary>
internal sealed class UnsafeDumpException(string message, object? target = null)
    : PgBackupException("UnsafeDump", FailureCategory.InvalidData, message, target);

/// <summary>
/// An encrypted backup could not be decrypted with what was given (wrong passphrase, wrong key passphrase), or its
/// ciphertext failed the OpenPGP integrity check (tampered or corrupt): no decrypted byte may be trusted.
/// </summary>
internal sealed class DecryptionFailedException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("DecryptionFailed", FailureCategory.InvalidData, message, target, inner);

/// <summary>An encrypted backup needs a passphrase or a private key that was not given (or a key other than the one given).</summary>
internal sealed class DecryptionKeyRequiredException(string message, object? target = null)
    : PgBackupException("DecryptionKeyRequired", FailureCategory.InvalidArgument, message, target);

/// <summary>A manifest's signature is missing, made by a key not trusted, or does not match the manifest.</summary>
internal sealed class SignatureInvalidException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("SignatureInvalid", FailureCategory.InvalidData, message, target, inner);

/// <summary>An OpenPGP key file cannot be read, is not a key of the needed kind, or holds no key usable for the purpose.</summary>
internal sealed class KeyFileInvalidException(string message, object? target = null, Exception? inner = null)
    : PgBackupException("KeyFileInvalid", FailureCategory.InvalidArgument, message, target, inner);

/// <summary>
/// A backup committed (its manifest is written), but its manifest's signature could not be written: the backup stands,
/// unsigned (<see cref="Backup"/> says Signed = false), and -TrustedSigningKey will refuse it until it is signed.
/// </summary>
internal sealed class SignatureWriteFailedException(string message, BackupInfo backup, Exception? inner = null)
    : PgBackupException("SignatureWriteFailed", FailureCategory.WriteError, message, backup, inner)
{
    /// <summary>The committed backup.</summary>
    public BackupInfo Backup { get; } = backup;
}
