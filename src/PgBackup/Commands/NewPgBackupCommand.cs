using System.Collections;
using System.Management.Automation;
using PgBackup.Backup;
using PgBackup.Completion;
using PgBackup.Connection;
using PgBackup.Errors;
using PgBackup.Storage;
using PgBackup.Storage.Azure;
using PgBackup.Storage.S3;
using PgBackup.Verification;

namespace PgBackup.Commands;

/// <summary>
/// <para type="synopsis">Backs up PostgreSQL databases into a repository (local folder, S3 or Azure Blob Storage).</para>
/// <para type="description">Streams pg_dump output through SHA-256 into the repository and writes the manifest last.
/// Writes one PgBackup.BackupInfo per database as soon as it is committed.</para>
/// </summary>
[Cmdlet(VerbsCommon.New, "PgBackup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(BackupInfo))]
public sealed class NewPgBackupCommand : PgConnectionCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ServerDatabaseCompleter))]
    public string[]? Database { get; set; }

    [Parameter]
    [Alias("Path", "Destination")]
    [ValidateNotNullOrEmpty]
    public string? Repository { get; set; }

    [Parameter]
    public BackupFormat Format { get; set; } = BackupFormat.Custom;

    [Parameter]
    public BackupCompression Compression { get; set; } = BackupCompression.Gzip;

    [Parameter]
    [ValidateRange(0, 22)]
    public int? CompressionLevel { get; set; }

    [Parameter]
    public SwitchParameter SchemaOnly { get; set; }

    /// <summary>Store exact per-table row counts, taken in the very snapshot pg_dump dumps, in the manifest.</summary>
    [Parameter]
    public SwitchParameter RowCounts { get; set; }

    /// <summary>After committing, test the backup at the Structure level (Test-PgBackup); a failure is reported as an error.</summary>
    [Parameter]
    public SwitchParameter Verify { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Environment { get; set; }

    [Parameter]
    public Hashtable? Tag { get; set; }

    /// <summary>S3 storage class of the backup artifacts (manifests stay STANDARD).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(StorageClassCompleter))]
    public string StorageClass { get; set; } = S3RepositoryOptions.DefaultStorageClass;

    [Parameter]
    [ValidateSet("None", "AES256", "aws:kms")]
    public string ServerSideEncryption { get; set; } = "None";

    /// <summary>KMS key for -ServerSideEncryption aws:kms (else the bucket's default key).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? KmsKeyId { get; set; }

    /// <summary>Multipart part size; by default chosen from the database size so 10,000 parts suffice.</summary>
    [Parameter]
    [ValidateRange(5, 1024)]
    public int? S3PartSizeMB { get; set; }

    /// <summary>Azure access tier of the backup artifacts (manifests stay Hot). Archive needs a rehydration before any test or restore.</summary>
    [Parameter]
    [ValidateSet("Hot", "Cool", "Cold", "Archive")]
    public string AccessTier { get; set; } = AzureRepositoryOptions.DefaultAccessTier;

    /// <summary>Azure block size; by default chosen from the database size so 50,000 blocks suffice.</summary>
    [Parameter]
    [ValidateRange(1, 1024)]
    public int? AzureBlockSizeMB { get; set; }

    private protected override AzureRepositoryOptions AzureOptions => base.AzureOptions with
    {
        AccessTier = AccessTier,
        BlockSizeBytes = AzureBlockSizeMB * AzureBlockSizing.MiB,
    };

    private protected override S3RepositoryOptions S3Options => base.S3Options with
    {
        StorageClass = StorageClass,
        // ValidateSet accepts any casing.
        ServerSideEncryption = ServerSideEncryption.ToUpperInvariant() switch
        {
            "AES256" => S3ServerSideEncryption.AES256,
            "AWS:KMS" => S3ServerSideEncryption.AwsKms,
            _ => S3ServerSideEncryption.None,
        },
        KmsKeyId = KmsKeyId,
        PartSizeBytes = S3PartSizeMB * S3PartSizing.MiB,
    };

    private PgConnectionSettings? _connection;
    private IBackupRepository? _repository;
    private string? _backupType;
    private Dictionary<string, string>? _tags;
    private bool _sawDatabase;

    private protected override void OnBegin()
    {
        _connection = ResolveConnection();
        _repository = OpenRepository(Repository);
        // Nobody at a prompt (scheduled task, CI, -NonInteractive): the backup is recorded as automated.
        _backupType = SessionInteractivity.CanPrompt(Host) ? "manual" : "automated";
        // The hashtable's values may be PowerShell objects: turned into text here, on the pipeline thread.
        _tags = ToStringDictionary(Tag);
    }

    private protected override void OnRecord()
    {
        if (Database is null)
        {
            return;
        }

        _sawDatabase = true;
        var databases = Database;
        RunAsync(async (pipeline, cancellationToken) =>
        {
            // Several databases in one call: a bar for the run, with each database's bar under it.
            using var run = databases.Length > 1 ? pipeline.StartProgress($"Backing up {databases.Length} databases") : null;
            for (var i = 0; i < databases.Length; i++)
            {
                run?.ReportItems($"{i} of {databases.Length} done, now {databases[i]}", i, databases.Length);
                await BackupOneAsync(databases[i], pipeline, cancellationToken, run).ConfigureAwait(false);
            }
        });
    }

    private protected override void OnEnd()
    {
        if (_sawDatabase)
        {
            return;
        }

        // No -Database: back up the one the connection names (connection string, DATABASE_URL, PGDATABASE).
        var database = _connection!.Database
            ?? throw new InvalidBackupRequestException("Name the database to back up: -Database, or a database in -ConnectionString, DATABASE_URL or PGDATABASE.");
        RunAsync((pipeline, cancellationToken) => BackupOneAsync(database, pipeline, cancellationToken));
    }

    private async Task BackupOneAsync(string database, CmdletPipeline pipeline, CancellationToken cancellationToken, ProgressActivity? parentProgress = null)
    {
        // Asked before anything runs: -WhatIf starts no pg_dump and writes nothing (not even a Failed manifest).
        if (!await pipeline.ShouldProcessAsync(
                $"database \"{database}\" on {_connection!.ServerDisplay}",
                $"Back up into {_repository!.Location}",
                cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        var request = new BackupRequest
        {
            Database = database,
            Connection = _connection!,
            Repository = _repository!,
            Format = Format,
            Compression = Compression,
            CompressionLevel = CompressionLevel,
            SchemaOnly = SchemaOnly.IsPresent,
            RowCounts = RowCounts.IsPresent,
            Environment = Environment,
            Tags = _tags!,
            BackupType = _backupType!,
        };

        // Disposed on every way out, so the bar always ends with a Completed record.
        using var progress = pipeline.StartProgress($"Backing up {database}", parentProgress);
        try
        {
            var backup = await new BackupService(log: pipeline.Log, progress: progress).RunAsync(request, cancellationToken).ConfigureAwait(false);
            pipeline.WriteObject(backup);
            if (Verify.IsPresent)
            {
                await VerifyAsync(backup, pipeline, progress, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (PgBackupException ex)
        {
            pipeline.WriteError(ex, database);
        }
    }

    /// <summary>-Verify: the Structure-level test of what was just committed; the backup stays, a failure is an error.</summary>
    private async Task VerifyAsync(BackupInfo backup, CmdletPipeline pipeline, ProgressActivity progress, CancellationToken cancellationToken)
    {
        var result = await new BackupVerifier(log: pipeline.Log, progress: progress).VerifyAsync(
            new VerificationRequest { Backup = backup, Repository = _repository!, Level = TestLevel.Structure },
            cancellationToken).ConfigureAwait(false);
        if (!result.Passed)
        {
            pipeline.WriteError(new BackupVerificationFailedException($"Backup {backup.Id} was written but failed verification. {result.DescribeFailures()}", backup), backup);
        }
    }
}
