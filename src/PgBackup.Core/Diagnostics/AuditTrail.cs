using System.Diagnostics;
using PgBackup.Errors;

namespace PgBackup.Diagnostics;

/// <summary>
/// What one cmdlet invocation tells the audit log: each outcome it writes (a backup taken, tested, restored or
/// removed) and each failure it reports becomes one line; a listing (Get-PgBackupInfo) becomes one line with its count.
/// Writing the log never fails the operation: the first failure to write is one warning, and the trail goes quiet.
/// Not thread-safe: the cmdlet layer calls it from the pipeline thread only.
/// </summary>
internal sealed class AuditTrail
{
    private const string ListOperation = "Get-PgBackupInfo";
    private const string RemoveOperation = "Remove-PgBackupExpired";

    // Secrets a message could echo whatever produced it: masked in every line, on top of the redaction at each source.
    private static readonly string[] SecretVariables =
    [
        "PGPASSWORD", "PGBACKUP_ENCRYPTION_PASSPHRASE", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_CLIENT_SECRET",
    ];

    private readonly AuditLog? _log;
    private readonly string _operation;
    private readonly Action<string> _warn;
    private readonly Stopwatch _sinceLastOutcome = Stopwatch.StartNew();
    private readonly List<string?> _secrets = [.. SecretVariables.Select(System.Environment.GetEnvironmentVariable)];
    private bool _failedToWrite;
    private int _listed;

    /// <param name="log">The log, or null when neither -LogPath nor $env:PGBACKUP_LOG names one (then nothing is recorded).</param>
    /// <param name="operation">The cmdlet's name, e.g. New-PgBackup.</param>
    /// <param name="warn">How to warn (once) that the log could not be written.</param>
    public AuditTrail(AuditLog? log, string operation, Action<string> warn)
    {
        _log = log;
        _operation = operation;
        _warn = warn;
    }

    /// <summary>The server this invocation works on, for failures that carry no backup.</summary>
    public string? Server { get; set; }

    /// <summary>The repository this invocation works on, for failures that carry no backup.</summary>
    public string? Repository { get; set; }

    /// <summary>A secret this invocation uses (the database password): never written, whatever message would carry it.</summary>
    public void AddSecret(string? secret) => _secrets.Add(secret);

    /// <summary>Records an object the cmdlet writes to the pipeline (or, for a removal without -PassThru, would).</summary>
    public void RecordOutcome(object? outcome)
    {
        switch (outcome)
        {
            case BackupInfo or BackupSummary when _operation == ListOperation:
                _listed++;
                break;
            case BackupInfo removed when _operation == RemoveOperation:
                Append(FromBackup(removed, "Remove") with { Status = "Succeeded", DurationSeconds = SinceLastOutcome() });
                break;
            case BackupInfo backup:
                Append(FromBackup(backup, "Backup") with { DurationSeconds = backup.Duration?.TotalSeconds });
                break;
            case TestResult test:
                Append(FromBackup(test.Backup, "Test") with
                {
                    Status = test.Passed ? "Succeeded" : "Failed",
                    // The same id as the error Test-PgBackup writes next, which is not logged twice (see RecordFailure).
                    ErrorId = test.Passed ? null : "BackupTestFailed",
                    Message = test.Passed ? null : $"{test.Level} test failed. {test.DescribeFailures()}",
                    DurationSeconds = test.Duration.TotalSeconds,
                });
                break;
            case RestoreResult restore:
                Append(FromBackup(restore.Backup, "Restore") with
                {
                    Status = "Succeeded",
                    Database = restore.TargetDatabase,
                    Server = restore.Server,
                    DurationSeconds = restore.Duration.TotalSeconds,
                });
                break;
        }
    }

    /// <summary>Records a failure the cmdlet reports (non-terminating or terminating), about <paramref name="target"/>.</summary>
    public void RecordFailure(PgBackupException failure, object? target)
    {
        if (failure is BackupTestFailedException)
        {
            // Its TestResult was already recorded, as Failed with this id.
            return;
        }

        var action = failure is BackupVerificationFailedException ? "Verify" : ActionOf(_operation);
        var about = (target ?? failure.TargetObject) switch
        {
            BackupInfo backup => FromBackup(backup, action),
            // New-PgBackup names the database it failed on (or the server, when it could not list its databases);
            // the other cmdlets the path they were given.
            string server when server == Server => Entry(action),
            string database when _operation == "New-PgBackup" => Entry(action) with { Database = database },
            string location => Entry(action) with { Location = location },
            _ => Entry(action),
        };
        Append(about with
        {
            Status = "Failed",
            ErrorId = failure.ErrorId,
            Message = failure.Message,
            DurationSeconds = SinceLastOutcome(),
        });
    }

    /// <summary>The end of a listing: one line with the number of backups (or summaries) it returned.</summary>
    public void Complete()
    {
        if (_operation == ListOperation)
        {
            Append(Entry("List") with { Status = "Succeeded", Count = _listed, DurationSeconds = SinceLastOutcome() });
        }
    }

    private static string ActionOf(string operation) => operation switch
    {
        "New-PgBackup" => "Backup",
        "Test-PgBackup" => "Test",
        "Restore-PgBackup" => "Restore",
        RemoveOperation => "Remove",
        ListOperation => "List",
        _ => operation,
    };

    private AuditEntry Entry(string action) => new()
    {
        Operation = _operation,
        Action = action,
        Status = "Succeeded",
        Server = Server,
        Repository = Repository,
    };

    private AuditEntry FromBackup(BackupInfo backup, string action) => Entry(action) with
    {
        Status = backup.Status.ToString(),
        BackupId = backup.Id,
        Database = backup.Database,
        Kind = backup.Kind.ToString(),
        Server = backup.Server,
        Repository = backup.Repository,
        Bytes = backup.SizeBytes,
    };

    private double SinceLastOutcome() => _sinceLastOutcome.Elapsed.TotalSeconds;

    private void Append(AuditEntry entry)
    {
        _sinceLastOutcome.Restart();
        if (_log is null || _failedToWrite)
        {
            return;
        }

        try
        {
            _log.Append(entry, new SecretRedactor(_secrets));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException or System.Security.SecurityException)
        {
            // The operation itself went as recorded in its output: a log that cannot be written is worth one warning, no more.
            _failedToWrite = true;
            _warn($"Could not write the audit log {_log.Path}: {ex.Message} Nothing more is logged by this command.");
        }
    }
}
