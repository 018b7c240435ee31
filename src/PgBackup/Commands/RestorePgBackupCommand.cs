using System.Management.Automation;
using PgBackup.Completion;
using PgBackup.Connection;
using PgBackup.Errors;
using PgBackup.Restore;

namespace PgBackup.Commands;

/// <summary>
/// <para type="synopsis">Restores a backup into a new database, or replaces an existing database without risking it.</para>
/// <para type="description">Verifies the backup (size and SHA-256, into a private temporary file that is then restored)
/// before touching anything; a plain dump holding psql commands pg_dump does not write is refused. Every restore goes into a
/// staging database first: a new target gets its name only once the restore succeeded. An existing target is replaced only after the backup was fully restored
/// into a staging database: then the names are swapped and the previous database is kept as
/// &lt;target&gt;_pre_restore_&lt;yyyyMMddHHmmss&gt; (dropped with -DropPrevious). A failure leaves the live database untouched.</para>
/// </summary>
[Cmdlet(VerbsData.Restore, "PgBackup", DefaultParameterSetName = InputObjectSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(RestoreResult))]
public sealed class RestorePgBackupCommand : PgDecryptingCmdlet
{
    private const string InputObjectSet = "InputObject";
    private const string PathSet = "Path";
    private const string LiteralPathSet = "LiteralPath";

    /// <summary>A backup from Get-PgBackupInfo or New-PgBackup.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = InputObjectSet)]
    public BackupInfo? InputObject { get; set; }

    /// <summary>A backup by manifest (or artifact) path or URI; wildcards in a local path are expanded and must match one backup.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>A backup by manifest (or artifact) path or URI, taken exactly as written (no wildcards); binds FullName and ManifestLocation from the pipeline.</summary>
    [Parameter(Mandatory = true, ParameterSetName = LiteralPathSet, ValueFromPipelineByPropertyName = true)]
    [Alias("LP", "ManifestLocation", "FullName")]
    [ValidateNotNullOrEmpty]
    public string? LiteralPath { get; set; }

    /// <summary>The database to create or replace; default: the backup's database.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(ServerDatabaseCompleter))]
    public string? TargetDatabase { get; set; }

    /// <summary>Parallel pg_restore jobs (custom format only; the archive then goes through a private temporary file).</summary>
    [Parameter]
    [ValidateRange(1, 64)]
    public int Jobs { get; set; } = 1;

    /// <summary>Restore without ownership and privileges (--no-owner --no-acl).</summary>
    [Parameter]
    public SwitchParameter NoOwner { get; set; }

    /// <summary>Act unattended on databases this cmdlet would otherwise only ask or warn about (scheduled tasks, CI):
    /// replace an existing target database without confirmation, and drop leftover databases of interrupted restores
    /// and tests on the server (…_restoring_…, pgbackup_verify_…, marked by PgBackup when created) that are older than
    /// an hour. Younger leftovers and ones with sessions connected are always left alone.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Drop the replaced database instead of keeping it as &lt;target&gt;_pre_restore_&lt;timestamp&gt;.</summary>
    [Parameter]
    public SwitchParameter DropPrevious { get; set; }

    /// <summary>OpenPGP public key files (gpg --export): the manifest must be signed by one of them, else the backup is
    /// refused (SignatureInvalid) before anything touches the server.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? TrustedSigningKey { get; set; }

    private PgConnectionSettings? _connection;
    private bool _canPrompt;
    private Encryption.TrustedSigningKeys? _trusted;

    // Piped backups, restored in EndProcessing: the globals first, whatever order they came in (Get-PgBackupInfo
    // lists newest first, a Sort-Object or a saved list any other way), so the roles exist before the databases that
    // name them as owners and grantees.
    private readonly List<BackupReference> _piped = [];

    private protected override void OnBegin()
    {
        _connection = ResolveConnection();
        _canPrompt = SessionInteractivity.CanPrompt(Host);
        _trusted = TrustedSigningKey is null ? null : Encryption.TrustedSigningKeys.Load([.. TrustedSigningKey.Select(ResolveLocation)]);
        // Key files are read once, here, before any backup is read.
        OpenDecryption();
    }

    private protected override void OnRecord()
    {
        if (ResolveBackup() is not { } reference)
        {
            return;
        }

        if (MyInvocation.ExpectingInput)
        {
            _piped.Add(reference);
            return;
        }

        Restore(reference);
    }

    private protected override void OnEnd()
    {
        foreach (var reference in _piped.Where(IsGlobals).Concat(_piped.Where(reference => !IsGlobals(reference))))
        {
            Restore(reference);
        }

        static bool IsGlobals(BackupReference reference) => reference.Backup?.Kind == BackupKind.Globals;
    }

    private void Restore(BackupReference reference)
    {
        RunAsync(async (pipeline, cancellationToken) =>
        {
            var target = reference.Target;
            // Completed on every way out (restored, refused, failed, cancelled).
            using var progress = pipeline.StartProgress($"Restoring {reference.Backup?.Id ?? reference.Location}");
            try
            {
                var (backup, repository) = await reference.OpenAsync(pipeline, cancellationToken).ConfigureAwait(false);
                if (_trusted is not null)
                {
                    // Before the server is asked anything: only the signed manifest's size and SHA-256 count from here on.
                    (backup, var signature) = await Encryption.ManifestSignatures.ReadTrustedAsync(repository, backup.ManifestKey, _trusted, cancellationToken).ConfigureAwait(false);
                    pipeline.Log.Verbose($"The manifest of {backup.Id} is signed by trusted key {signature.KeyFingerprint}.");
                }

                if (backup.Kind == BackupKind.Globals)
                {
                    await RestoreGlobalsAsync(backup, repository, pipeline, progress, cancellationToken).ConfigureAwait(false);
                    return;
                }

                var request = new RestoreRequest
                {
                    Backup = backup,
                    Repository = repository,
                    Connection = _connection!,
                    TargetDatabase = TargetDatabase,
                    Jobs = Jobs,
                    NoOwner = NoOwner.IsPresent,
                    DropPrevious = DropPrevious.IsPresent,
                    DropLeftovers = Force.IsPresent,
                    Decryption = Decryption,
                };
                target = request.EffectiveTargetDatabase;
                var service = new RestoreService(log: pipeline.Log, progress: progress);
                var plan = await service.PlanAsync(request, cancellationToken).ConfigureAwait(false);
                if (!await pipeline.OnPipelineThreadAsync(() => Confirm(plan, backup), cancellationToken).ConfigureAwait(false))
                {
                    return;
                }

                pipeline.WriteObject(await service.RunAsync(request, plan, cancellationToken).ConfigureAwait(false));
            }
            catch (PgBackupException ex) when (ex is not ReplaceNotConfirmedException)
            {
                pipeline.WriteError(ex, target);
            }
        });
    }

    /// <summary>
    /// The one backup to restore, resolved on the pipeline thread; null (after a non-terminating error) when -Path
    /// matched nothing or, restoring one backup into one database, more than one backup.
    /// </summary>
    private BackupReference? ResolveBackup()
    {
        if (ParameterSetName == InputObjectSet)
        {
            return Reference(InputObject, null);
        }

        var references = ParameterSetName == PathSet ? ReferencesFor([Path!], literal: false) : ReferencesFor([LiteralPath!], literal: true);
        if (references.Count > 1)
        {
            WriteError(ErrorRecords.From(new InvalidRestoreRequestException(
                $"The path \"{Path}\" matches {references.Count} backups; Restore-PgBackup restores one. Name one manifest, or pick one with Get-PgBackupInfo -Database <name> -Latest.",
                Path)));
            return null;
        }

        return references.FirstOrDefault();
    }

    /// <summary>
    /// On the pipeline thread. A replace is confirmed the PowerShell way: ShouldProcess (-WhatIf, -Confirm, and this
    /// cmdlet's High impact against $ConfirmPreference), then — destructive — ShouldContinue unless -Force. Two
    /// cases never prompt unless -Confirm asks: creating a database (it destroys nothing) and a -Force replace (the
    /// unattended mode scheduled tasks use); -WhatIf still only describes them. A replace that needs an answer in
    /// a session where nobody can give one fails with ReplaceNotConfirmed instead of waiting on (or failing in) a prompt.
    /// </summary>
    private bool Confirm(RestorePlan plan, BackupInfo backup)
    {
        var description = plan.Describe(backup);
        var caption = plan.TargetExists ? $"Replace database \"{plan.TargetDatabase}\" on {plan.Server}" : $"Create database \"{plan.TargetDatabase}\" on {plan.Server}";
        var confirmGiven = MyInvocation.BoundParameters.ContainsKey("Confirm");
        if (!plan.TargetExists || (Force && !confirmGiven))
        {
            if (confirmGiven || IsWhatIf())
            {
                return ShouldProcess(description, description + " Continue?", caption);
            }

            WriteVerbose(description);
            return true;
        }

        if (!Force && !_canPrompt && !IsWhatIf())
        {
            throw new ReplaceNotConfirmedException(
                $"The database \"{plan.TargetDatabase}\" exists on {plan.Server}; replacing it with backup {backup.Id} needs confirmation, " +
                "and this session is not interactive (CI, a scheduled task, -NonInteractive or redirected input). Add -Force to replace it unattended, " +
                "or -TargetDatabase to restore into a new database.",
                plan.TargetDatabase);
        }

        return ShouldProcess(description, description + " Continue?", caption)
            && (Force || ShouldContinue(
                $"\"{plan.TargetDatabase}\" will be replaced by the restored copy; the current database " +
                (plan.DropPrevious ? "will be dropped." : $"stays as \"{plan.PreviousDatabase}\"."),
                caption));
    }

    /// <summary>A Globals backup: checked and parsed in full, confirmed, then applied statement by statement.</summary>
    private async Task RestoreGlobalsAsync(BackupInfo backup, Storage.IBackupRepository repository, CmdletPipeline pipeline, ProgressActivity progress, CancellationToken cancellationToken)
    {
        if (TargetDatabase is not null)
        {
            throw new InvalidRestoreRequestException($"Backup {backup.Id} holds the server's globals (roles, tablespaces), not a database: -TargetDatabase does not apply.", backup.Id);
        }

        var service = new GlobalsRestoreService(pipeline.Log, progress);
        var statements = await service.ReadAsync(repository, backup, Decryption, cancellationToken).ConfigureAwait(false);
        if (!await pipeline.OnPipelineThreadAsync(() => ConfirmGlobals(backup, statements), cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        var result = await service.RestoreAsync(backup, statements, _connection!, cancellationToken).ConfigureAwait(false);
        pipeline.WriteObject(result);
        foreach (var failure in result.Failed)
        {
            pipeline.WriteError(new RestoreFailedException($"A statement of globals backup {backup.Id} failed on {result.Server}: {failure}", backup.Id), backup);
        }
    }

    /// <summary>
    /// On the pipeline thread. Applying globals changes the whole server (ConfirmImpact High): -WhatIf lists every
    /// statement (password hashes shown as '***') and changes nothing; -Force applies them unattended; otherwise
    /// PowerShell asks, and a session where nobody can answer fails with ReplaceNotConfirmed.
    /// </summary>
    private bool ConfirmGlobals(BackupInfo backup, IReadOnlyList<GlobalsStatement> statements)
    {
        var server = _connection!.ServerDisplay;
        var description = $"Apply the roles, role memberships and settings and tablespaces of {backup.Id} ({statements.Count} statements) to {server}: existing roles are left alone (their memberships and settings are merged), the connecting role and postgres are never altered.";
        var caption = $"Apply globals to {server}";
        if (IsWhatIf())
        {
            foreach (var statement in statements)
            {
                ShouldProcess(statement.Shown, "Run globals statement");
            }

            return ShouldProcess(description, description + " Continue?", caption);
        }

        if (Force && !MyInvocation.BoundParameters.ContainsKey("Confirm"))
        {
            WriteVerbose(description);
            return true;
        }

        if (!_canPrompt)
        {
            throw new ReplaceNotConfirmedException(
                $"Applying globals backup {backup.Id} to {server} needs confirmation, and this session is not interactive. Add -Force to apply it unattended.",
                backup.Id);
        }

        return ShouldProcess(description, description + " Continue?", caption);
    }

    /// <summary>-WhatIf, or $WhatIfPreference when it is not given.</summary>
    private bool IsWhatIf()
        => MyInvocation.BoundParameters.TryGetValue("WhatIf", out var value)
            ? value is SwitchParameter { IsPresent: true }
            : LanguagePrimitives.IsTrue(SessionState.PSVariable.GetValue("WhatIfPreference"));
}
