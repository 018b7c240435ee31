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
public sealed class RestorePgBackupCommand : PgConnectionCmdlet
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

    private PgConnectionSettings? _connection;
    private bool _canPrompt;

    private protected override void OnBegin()
    {
        _connection = ResolveConnection();
        _canPrompt = SessionInteractivity.CanPrompt(Host);
    }

    private protected override void OnRecord()
    {
        if (ResolveBackup() is not { } reference)
        {
            return;
        }

        RunAsync(async (pipeline, cancellationToken) =>
        {
            var target = reference.Target;
            // Completed on every way out (restored, refused, failed, cancelled).
            using var progress = pipeline.StartProgress($"Restoring {reference.Backup?.Id ?? reference.Location}");
            try
            {
                var (backup, repository) = await reference.OpenAsync(pipeline, cancellationToken).ConfigureAwait(false);
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

    /// <summary>-WhatIf, or $WhatIfPreference when it is not given.</summary>
    private bool IsWhatIf()
        => MyInvocation.BoundParameters.TryGetValue("WhatIf", out var value)
            ? value is SwitchParameter { IsPresent: true }
            : LanguagePrimitives.IsTrue(SessionState.PSVariable.GetValue("WhatIfPreference"));
}
