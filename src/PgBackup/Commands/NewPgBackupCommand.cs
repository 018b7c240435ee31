using System.Collections;
using System.Management.Automation;
using PgBackup.Backup;
using PgBackup.Connection;
using PgBackup.Diagnostics;
using PgBackup.Errors;
using PgBackup.Storage;
using PgBackup.Storage.Azure;
using PgBackup.Storage.S3;

namespace PgBackup.Commands;

/// <summary>
/// <para type="synopsis">Backs up PostgreSQL databases into a repository (local folder, S3 or Azure Blob Storage).</para>
/// <para type="description">Streams pg_dump output through SHA-256 into the repository and writes the manifest last.
/// Writes one PgBackup.BackupInfo per database as soon as it is committed.</para>
/// </summary>
[Cmdlet(VerbsCommon.New, "PgBackup")]
[OutputType(typeof(BackupInfo))]
public sealed class NewPgBackupCommand : PgConnectionCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string[]? Database { get; set; }

    [Parameter]
    [Alias("Path", "Destination")]
    [ValidateNotNullOrEmpty]
    public string? Repository { get; set; }

    [Parameter]
    public BackupFormat Format { get => (BackupFormat)_format; set => _format = (int)value; }

    [Parameter]
    public BackupCompression Compression { get => (BackupCompression)_compression; set => _compression = (int)value; }

    // Stored as the enum's int, not the enum: PowerShell loads this class before PgBackup.Core is resolvable
    // (Loading/ModuleAssemblyLoader), and a field typed with a Core enum would need Core right then.
    private int _format = (int)BackupFormat.Custom;
    private int _compression = (int)BackupCompression.Gzip;

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

    protected override AzureRepositoryOptions AzureOptions => base.AzureOptions with
    {
        AccessTier = AccessTier,
        BlockSizeBytes = AzureBlockSizeMB * AzureBlockSizing.MiB,
    };

    protected override S3RepositoryOptions S3Options => base.S3Options with
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
    private BackupService? _service;
    private bool _sawDatabase;

    protected override Task BeginProcessingAsync()
    {
        _connection = ResolveConnection();
        _repository = OpenRepository(Repository);
        _service = new BackupService(log: CreateLog(), progress: CreateProgress());
        return Task.CompletedTask;
    }

    protected override async Task ProcessRecordAsync()
    {
        if (Database is null)
        {
            return;
        }

        _sawDatabase = true;
        foreach (var database in Database)
        {
            await BackupOneAsync(database).ConfigureAwait(false);
        }
    }

    protected override async Task EndProcessingAsync()
    {
        if (_sawDatabase)
        {
            return;
        }

        // No -Database: back up the one the connection names (connection string, DATABASE_URL, PGDATABASE).
        var database = _connection!.Database
            ?? throw new InvalidBackupRequestException("Name the database to back up: -Database, or a database in -ConnectionString, DATABASE_URL or PGDATABASE.");
        await BackupOneAsync(database).ConfigureAwait(false);
    }

    private async Task BackupOneAsync(string database)
    {
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
            Tags = ToStringDictionary(Tag),
            BackupType = Interactivity.IsInteractiveProcess() ? "manual" : "automated",
        };

        try
        {
            var backup = await _service!.RunAsync(request, CancellationToken).ConfigureAwait(false);
            Emit(backup);
            if (Verify.IsPresent)
            {
                await VerifyAsync(backup).ConfigureAwait(false);
            }
        }
        catch (PgBackupException ex)
        {
            EmitError(ex, database);
        }
    }

    /// <summary>-Verify: the Structure-level test of what was just committed; the backup stays, a failure is an error.</summary>
    private async Task VerifyAsync(BackupInfo backup)
    {
        var result = await new Verification.BackupVerifier(log: CreateLog(), progress: CreateProgress()).VerifyAsync(
            new Verification.VerificationRequest { Backup = backup, Repository = _repository!, Level = TestLevel.Structure },
            CancellationToken).ConfigureAwait(false);
        if (!result.Passed)
        {
            EmitError(new BackupVerificationFailedException($"Backup {backup.Id} was written but failed verification. {result.DescribeFailures()}", backup), backup);
        }
    }
}
