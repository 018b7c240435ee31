using System.Management.Automation;
using PgBackup.Errors;
using PgBackup.Verification;

namespace PgBackup.Commands;

/// <summary>
/// <para type="synopsis">Proves a backup is good: checksum, structure, or a real restore into a throwaway database.</para>
/// <para type="description">Checksum compares size and SHA-256 with the manifest; Structure (the default) also checks
/// the format header and that pg_restore can read the table of contents; Restore also restores into
/// pgbackup_verify_&lt;db&gt;_&lt;random&gt; on the given server, checks every table and the row counts recorded by
/// New-PgBackup -RowCounts, and drops the database again (unless -KeepDatabase). The Restore level verifies the
/// whole backup (size, SHA-256) into a private temporary file before pg_restore or psql reads a byte, and refuses a
/// plain dump holding psql commands pg_dump does not write. It also warns about leftover databases of interrupted
/// restores and tests on that server older than an hour (-Force drops them). Writes a PgBackup.TestResult;
/// when the backup did not pass, also a non-terminating BackupTestFailed error, so -ErrorAction Stop stops a script.</para>
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "PgBackup", DefaultParameterSetName = InputObjectSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(TestResult))]
public sealed class TestPgBackupCommand : PgDecryptingCmdlet
{
    private const string InputObjectSet = "InputObject";
    private const string PathSet = "Path";
    private const string LiteralPathSet = "LiteralPath";

    /// <summary>A backup from Get-PgBackupInfo or New-PgBackup.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = InputObjectSet, ValueFromPipeline = true)]
    [ValidateNotNull]
    public BackupInfo? InputObject { get; set; }

    /// <summary>Backups by manifest or artifact path or URI; wildcards in a local path are expanded.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Path { get; set; }

    /// <summary>Backups by manifest or artifact path or URI, taken exactly as written (no wildcards); binds FullName and ManifestLocation from the pipeline.</summary>
    [Parameter(Mandatory = true, ParameterSetName = LiteralPathSet, ValueFromPipelineByPropertyName = true)]
    [Alias("LP", "ManifestLocation", "Location", "FullName")]
    [ValidateNotNullOrEmpty]
    public string[]? LiteralPath { get; set; }

    [Parameter]
    public TestLevel Level { get; set; } = TestLevel.Structure;

    /// <summary>Restore level: leave the temporary database on the server (its name is in the result).</summary>
    [Parameter]
    public SwitchParameter KeepDatabase { get; set; }

    /// <summary>Restore level: drop leftover databases of interrupted restores and tests on the server (pgbackup_verify_…,
    /// …_restoring_…, marked by PgBackup when created) that are older than an hour, instead of only warning about them.
    /// Younger ones and ones with sessions connected are always left alone: they may belong to a running job.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>OpenPGP public key files (gpg --export): the manifest must be signed by one of them, else the test fails
    /// its Signature check (SignatureInvalid) before anything else is read or created.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? TrustedSigningKey { get; set; }

    private Connection.PgConnectionSettings? _connection;
    private Encryption.TrustedSigningKeys? _trusted;

    private protected override void OnBegin()
    {
        // Only the Restore level talks to a server; an unusable connection is an invalid invocation (terminating).
        _connection = Level == TestLevel.Restore ? ResolveConnection() : null;
        _trusted = TrustedSigningKey is null ? null : Encryption.TrustedSigningKeys.Load([.. TrustedSigningKey.Select(ResolveLocation)]);
        // Key files are read once, here, before any backup is read.
        OpenDecryption();
    }

    private protected override void OnRecord()
    {
        // Every path resolved here, on the pipeline thread, before the first backup is read.
        List<BackupReference> references = ParameterSetName switch
        {
            InputObjectSet => [Reference(InputObject, null)],
            PathSet => ReferencesFor(Path!, literal: false),
            _ => ReferencesFor(LiteralPath!, literal: true),
        };
        RunAsync(async (pipeline, cancellationToken) =>
        {
            foreach (var reference in references)
            {
                // One bar per backup, completed on every way out.
                using var progress = pipeline.StartProgress($"Testing {reference.Backup?.Id ?? reference.Location}");
                await TestOneAsync(new BackupVerifier(log: pipeline.Log, progress: progress), reference, pipeline, cancellationToken).ConfigureAwait(false);
            }
        });
    }

    private async Task TestOneAsync(BackupVerifier verifier, BackupReference reference, CmdletPipeline pipeline, CancellationToken cancellationToken)
    {
        try
        {
            var (backup, repository) = await reference.OpenAsync(pipeline, cancellationToken).ConfigureAwait(false);
            // Only the Restore level changes anything (a database on the server). Low impact: it asks only when the
            // user asked (-Confirm, $ConfirmPreference Low); -WhatIf describes it and creates nothing.
            if (Level == TestLevel.Restore && !await pipeline.OnPipelineThreadAsync(() => ConfirmRestore(backup), cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            var result = await verifier.VerifyAsync(
                new VerificationRequest
                {
                    Backup = backup,
                    Repository = repository,
                    Level = Level,
                    Connection = _connection,
                    KeepDatabase = KeepDatabase.IsPresent,
                    DropLeftovers = Force.IsPresent,
                    TrustedSigningKeys = _trusted,
                    Decryption = Decryption,
                },
                cancellationToken).ConfigureAwait(false);
            pipeline.WriteObject(result);
            if (result.Checks.FirstOrDefault(check => check is { Name: VerificationChecks.Signature, Passed: false }) is { } signature)
            {
                pipeline.WriteError(new SignatureInvalidException($"Backup {backup.Id} was not tested: {signature.Detail}", backup), backup);
            }
            else if (!result.Passed)
            {
                pipeline.WriteError(new BackupTestFailedException($"Backup {backup.Id} failed the {Level} test. {result.DescribeFailures()}", backup), backup);
            }
        }
        catch (PgBackupException ex)
        {
            pipeline.WriteError(ex, reference.Target);
        }
    }

    /// <summary>
    /// On the pipeline thread: ShouldProcess for the temporary database. A -Confirm that nobody can answer
    /// (-NonInteractive) is this backup's error, not an unexpected failure of the cmdlet.
    /// </summary>
    private bool ConfirmRestore(BackupInfo backup)
    {
        var action = $"Restore into a temporary database pgbackup_verify_{backup.Database}_… on {_connection!.ServerDisplay}, check it, and "
            + (KeepDatabase.IsPresent ? "keep it" : "drop it again");
        try
        {
            return ShouldProcess($"backup {backup.Id}", action);
        }
        catch (Exception ex) when (ex is PSInvalidOperationException or System.Management.Automation.Host.HostException)
        {
            throw new ConfirmationNotPossibleException(
                $"Testing backup {backup.Id} at the Restore level needs the confirmation -Confirm asked for, and this session cannot prompt: {ex.Message} Nothing was created.",
                backup.Id);
        }
    }
}
