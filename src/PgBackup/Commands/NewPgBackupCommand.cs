using System.Collections;
using System.Diagnostics;
using System.Management.Automation;
using System.Security;
using PgBackup.Backup;
using PgBackup.Catalog;
using PgBackup.Completion;
using PgBackup.Connection;
using PgBackup.Diagnostics;
using PgBackup.Errors;
using PgBackup.Server;
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
[Cmdlet(VerbsCommon.New, "PgBackup", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low, DefaultParameterSetName = DatabaseSet)]
[OutputType(typeof(BackupInfo))]
public sealed class NewPgBackupCommand : PgConnectionCmdlet
{
    private const string DatabaseSet = "Database";
    private const string AllDatabasesSet = "AllDatabases";

    /// <summary>Names or wildcards, expanded against the server's databases before anything is written.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true, ParameterSetName = DatabaseSet)]
    [Alias("Name", "DatabaseName", "datname")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ServerDatabaseCompleter))]
    public string[]? Database { get; set; }

    /// <summary>Every database that allows connections, templates excluded.</summary>
    [Parameter(Mandatory = true, ParameterSetName = AllDatabasesSet)]
    public SwitchParameter AllDatabases { get; set; }

    /// <summary>Wildcards of databases to leave out of -AllDatabases and of -Database wildcards.</summary>
    [Parameter]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ServerDatabaseCompleter))]
    public string[]? ExcludeDatabase { get; set; }

    /// <summary>Also back up the server's roles, memberships, role settings and tablespaces (pg_dumpall --globals-only), once per run.</summary>
    [Parameter]
    public SwitchParameter IncludeGlobals { get; set; }

    [Parameter]
    [Alias("Path", "Destination")]
    [ValidateNotNullOrEmpty]
    public string? Repository { get; set; }

    [Parameter]
    public BackupFormat Format { get; set; } = BackupFormat.Custom;

    [Parameter]
    public BackupCompression Compression { get; set; } = BackupCompression.Zstd;

    [Parameter]
    [ValidateRange(0, 22)]
    public int? CompressionLevel { get; set; }

    /// <summary>pg_dump -j: parallel dump jobs (one more connection each), -Format Directory only.</summary>
    [Parameter]
    [ValidateRange(1, 64)]
    public int Jobs { get; set; } = 1;

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

    /// <summary>
    /// Encrypt every artifact (OpenPGP, AES-256, integrity-protected; gpg decrypts it) with this passphrase; else
    /// $env:PGBACKUP_ENCRYPTION_PASSPHRASE when -EncryptionPublicKey is not given either.
    /// </summary>
    [Parameter]
    [ValidateNotNull]
    public SecureString? EncryptionPassphrase { get; set; }

    /// <summary>Encrypt every artifact to these OpenPGP public keys (gpg --export files, armored or binary; every key in every file is a recipient).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? EncryptionPublicKey { get; set; }

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

    /// <summary>
    /// An OpenPGP secret key file (gpg --export-secret-keys, armored or binary) to sign every manifest with: a detached
    /// signature &lt;manifest&gt;.sig is written next to each. Read and unlocked once, before any dump starts.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SigningKey { get; set; }

    /// <summary>The passphrase that unlocks -SigningKey (a SecureString: never in argv, logs or files).</summary>
    [Parameter]
    [ValidateNotNull]
    public System.Security.SecureString? SigningKeyPassphrase { get; set; }

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
    private Encryption.ManifestSigner? _signer;
    private Encryption.OpenPgpEncryption? _encryption;
    private Encryption.OpenPgpDecryption? _verifyDecryption;
    private string? _backupType;
    private Dictionary<string, string>? _tags;
    private bool _sawDatabase;
    private IReadOnlyList<ServerDatabase>? _serverDatabases;
    private bool _listedServerDatabases;
    private readonly Stopwatch _runTime = new();
    private int _succeeded;
    private int _failed;
    private long _bytes;

    private protected override void OnBegin()
    {
        _runTime.Start();
        if (Jobs > 1 && Format != BackupFormat.Directory)
        {
            throw new InvalidBackupRequestException("-Jobs dumps in parallel only with -Format Directory (pg_dump -j needs the directory format).");
        }

        // Keys first: a key file that is not one, or both kinds of encryption at once, is a mistake that writes nothing.
        _encryption = Commands.EncryptionKeys.ForBackup(EncryptionPassphrase, EncryptionPublicKey?.Select(SessionState.Path.GetUnresolvedProviderPathFromPSPath).ToList());
        if (_encryption is not null && Verify.IsPresent && EncryptionPublicKey is null)
        {
            // -Verify reads the plaintext back: with a passphrase it can.
            _verifyDecryption = Commands.EncryptionKeys.ForReading(EncryptionPassphrase, null, null);
        }

        _connection = ResolveConnection();
        _repository = OpenRepository(Repository);
        _signer = LoadSigner();
        // Nobody at a prompt (scheduled task, CI, -NonInteractive): the backup is recorded as automated.
        _backupType = SessionInteractivity.CanPrompt(Host) ? "manual" : "automated";
        // The hashtable's values may be PowerShell objects: turned into text here, on the pipeline thread.
        _tags = ToStringDictionary(Tag);
    }

    /// <summary>-SigningKey, read and unlocked here, before any dump: a wrong passphrase or a bad key file ends the command having written nothing.</summary>
    private Encryption.ManifestSigner? LoadSigner()
    {
        if (SigningKey is null)
        {
            return SigningKeyPassphrase is null
                ? null
                : throw new InvalidBackupRequestException("-SigningKeyPassphrase unlocks the key of -SigningKey: give -SigningKey too (the secret key file to sign the manifests with).");
        }

        using var passphrase = SigningKeyPassphrase is null ? null : Encryption.Passphrase.FromSecureString(SigningKeyPassphrase);
        var signer = Encryption.ManifestSigner.Load(ResolveLocation(SigningKey), passphrase);
        WriteVerbose($"Signing every manifest with key {signer.KeyFingerprint}.");
        return signer;
    }

    private protected override void OnRecord()
    {
        if (Database is null)
        {
            return;
        }

        _sawDatabase = true;
        var selection = new DatabaseSelectionRequest { Databases = Database, Exclude = ExcludeDatabase ?? [] };
        RunAsync((pipeline, cancellationToken) => BackupSelectionAsync(selection, pipeline, cancellationToken));
    }

    private protected override void OnEnd()
    {
        var exclude = ExcludeDatabase ?? [];
        var includeGlobals = IncludeGlobals.IsPresent;
        RunAsync(async (pipeline, cancellationToken) =>
        {
            if (AllDatabases.IsPresent)
            {
                await BackupSelectionAsync(new DatabaseSelectionRequest { AllDatabases = true, Exclude = exclude }, pipeline, cancellationToken).ConfigureAwait(false);
            }
            else if (!_sawDatabase && !includeGlobals)
            {
                // No -Database: back up the one the connection names (connection string, DATABASE_URL, PGDATABASE).
                var database = _connection!.Database
                    ?? throw new InvalidBackupRequestException("Name the database to back up: -Database, -AllDatabases, -IncludeGlobals, or a database in -ConnectionString, DATABASE_URL or PGDATABASE.");
                await BackupOneAsync(database, BackupKind.Database, pipeline, cancellationToken).ConfigureAwait(false);
            }

            if (includeGlobals)
            {
                // pg_dumpall connects to the connection's database, else postgres: the globals are the server's either way.
                await BackupOneAsync(_connection!.Database ?? "postgres", BackupKind.Globals, pipeline, cancellationToken).ConfigureAwait(false);
            }

            if (_succeeded + _failed > 0)
            {
                pipeline.WriteInformation(
                    $"New-PgBackup: {_succeeded} succeeded, {_failed} failed, {ByteSize.Format(_bytes)} stored in {_runTime.Elapsed:hh\\:mm\\:ss}.",
                    "PgBackup", "Summary");
            }
        });
    }

    /// <summary>
    /// Expands names and wildcards against the server (listed once per run) before anything is written: a mistake
    /// (unknown name, wildcard without a match) is a non-terminating error that writes nothing for this input.
    /// </summary>
    private async Task BackupSelectionAsync(DatabaseSelectionRequest selection, CmdletPipeline pipeline, CancellationToken cancellationToken)
    {
        IReadOnlyList<string> databases;
        try
        {
            if (!_listedServerDatabases)
            {
                await using var server = new PgServer(_connection!);
                _serverDatabases = await DatabaseSelection.ListAsync(server, cancellationToken).ConfigureAwait(false);
                _listedServerDatabases = true;
            }

            databases = DatabaseSelection.Select(selection, _serverDatabases, _connection!.ServerDisplay);
        }
        catch (PgBackupException ex) when (ex is DatabaseNotFoundException or NoDatabaseMatchedException)
        {
            pipeline.WriteError(ex, ex.TargetObject);
            return;
        }
        catch (PgBackupException) when (!selection.NeedsServerList)
        {
            // The server is down or refuses us: each named database's attempt fails and is recorded, so monitoring sees it.
            databases = selection.Databases;
        }
        catch (PgBackupException ex)
        {
            // Nothing to name a Failed manifest after (the wildcard's matches are unknown): the error says it all.
            _failed++;
            pipeline.WriteError(ex, _connection!.ServerDisplay);
            return;
        }

        // Several databases in one call: a bar for the run, with each database's bar under it.
        using var run = databases.Count > 1 ? pipeline.StartProgress($"Backing up {databases.Count} databases") : null;
        for (var i = 0; i < databases.Count; i++)
        {
            run?.ReportItems($"{i} of {databases.Count} done, now {databases[i]}", i, databases.Count);
            await BackupOneAsync(databases[i], BackupKind.Database, pipeline, cancellationToken, run).ConfigureAwait(false);
        }
    }

    private async Task BackupOneAsync(string database, BackupKind kind, CmdletPipeline pipeline, CancellationToken cancellationToken, ProgressActivity? parentProgress = null)
    {
        // Asked before anything runs: -WhatIf starts no pg_dump and writes nothing (not even a Failed manifest).
        if (!await pipeline.ShouldProcessAsync(
                kind == BackupKind.Globals ? $"globals (roles, memberships, settings, tablespaces) of {_connection!.ServerDisplay}" : $"database \"{database}\" on {_connection!.ServerDisplay}",
                $"Back up into {_repository!.Location}",
                cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        var request = new BackupRequest
        {
            Database = database,
            Kind = kind,
            Connection = _connection!,
            Repository = _repository!,
            Format = Format,
            Compression = Compression,
            CompressionLevel = CompressionLevel,
            Jobs = Jobs,
            SchemaOnly = SchemaOnly.IsPresent,
            RowCounts = RowCounts.IsPresent,
            Environment = Environment,
            Tags = _tags!,
            BackupType = _backupType!,
            Signer = _signer,
            Encryption = _encryption,
        };

        // Disposed on every way out, so the bar always ends with a Completed record.
        using var progress = pipeline.StartProgress(kind == BackupKind.Globals ? "Backing up the server's globals" : $"Backing up {database}", parentProgress);
        try
        {
            BackupInfo backup;
            SignatureWriteFailedException? unsigned = null;
            try
            {
                backup = await new BackupService(log: pipeline.Log, progress: progress).RunAsync(request, cancellationToken).ConfigureAwait(false);
            }
            catch (SignatureWriteFailedException ex)
            {
                // Committed all the same: the backup is written out (Signed = False), then the error.
                backup = ex.Backup;
                unsigned = ex;
            }

            _succeeded++;
            _bytes += backup.SizeBytes;
            pipeline.WriteObject(backup);
            if (unsigned is not null)
            {
                pipeline.WriteError(unsigned, backup);
            }

            if (Verify.IsPresent)
            {
                await VerifyAsync(backup, pipeline, progress, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (PgBackupException ex)
        {
            _failed++;
            pipeline.WriteError(ex, kind == BackupKind.Globals ? BackupNaming.GlobalsDatabaseName : database);
        }
    }

    private protected override void OnDispose()
    {
        _encryption?.Dispose();
        _verifyDecryption?.Dispose();
    }

    /// <summary>
    /// -Verify: the Structure-level test of what was just committed; the backup stays, a failure is an error. A backup
    /// encrypted to public keys cannot be read back without a secret key: it is checked at the Checksum level.
    /// </summary>
    private async Task VerifyAsync(BackupInfo backup, CmdletPipeline pipeline, ProgressActivity progress, CancellationToken cancellationToken)
    {
        var level = backup.Encrypted && _verifyDecryption is null ? TestLevel.Checksum : TestLevel.Structure;
        if (level == TestLevel.Checksum)
        {
            pipeline.Log.Verbose($"Backup {backup.Id} is encrypted to public keys: -Verify checks its size and SHA-256 (Test-PgBackup -DecryptionKey reads it back).");
        }

        var result = await new BackupVerifier(log: pipeline.Log, progress: progress).VerifyAsync(
            new VerificationRequest { Backup = backup, Repository = _repository!, Level = level, Decryption = _verifyDecryption },
            cancellationToken).ConfigureAwait(false);
        if (!result.Passed)
        {
            pipeline.WriteError(new BackupVerificationFailedException($"Backup {backup.Id} was written but failed verification. {result.DescribeFailures()}", backup), backup);
        }
    }
}
