using System.Management.Automation;
using PgBackup.Connection;
using PgBackup.Diagnostics;
using PgBackup.Errors;
using PgBackup.Restore;

namespace PgBackup.Commands;

/// <summary>
/// <para type="synopsis">Restores a backup into a new database, or replaces an existing database without risking it.</para>
/// <para type="description">Verifies the backup (SHA-256, a pg_restore that can read it) before touching anything.
/// A new target is created and restored. An existing target is replaced only after the backup was fully restored
/// into a staging database: then the names are swapped and the previous database is kept as
/// &lt;target&gt;_pre_restore_&lt;yyyyMMddHHmmss&gt; (dropped with -DropPrevious). A failure leaves the live database untouched.</para>
/// </summary>
[Cmdlet(VerbsData.Restore, "PgBackup", DefaultParameterSetName = InputObjectSet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(RestoreResult))]
public sealed class RestorePgBackupCommand : PgConnectionCmdlet
{
    private const string InputObjectSet = "InputObject";
    private const string PathSet = "Path";

    /// <summary>A backup from Get-PgBackupInfo or New-PgBackup.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = InputObjectSet)]
    public BackupInfo? InputObject { get; set; }

    /// <summary>A manifest (or artifact) path or URI.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PathSet, ValueFromPipelineByPropertyName = true)]
    [Alias("ManifestLocation", "FullName")]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>The database to create or replace; default: the backup's database.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? TargetDatabase { get; set; }

    /// <summary>Parallel pg_restore jobs (custom format only; the archive then goes through a private temporary file).</summary>
    [Parameter]
    [ValidateRange(1, 64)]
    public int Jobs { get; set; } = 1;

    /// <summary>Restore without ownership and privileges (--no-owner --no-acl).</summary>
    [Parameter]
    public SwitchParameter NoOwner { get; set; }

    /// <summary>Replace an existing database without asking (scheduled tasks, CI).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Drop the replaced database instead of keeping it as &lt;target&gt;_pre_restore_&lt;timestamp&gt;.</summary>
    [Parameter]
    public SwitchParameter DropPrevious { get; set; }

    private PgConnectionSettings? _connection;
    private RestoreService? _service;
    private bool _whatIf;
    private ConfirmImpact _confirmPreference;

    protected override Task BeginProcessingAsync()
    {
        // Read on the pipeline thread (this part runs before any await): SessionState is not thread-safe.
        _whatIf = IsSwitchOn("WhatIf", "WhatIfPreference");
        _confirmPreference = ConfirmPreference();
        _connection = ResolveConnection();
        _service = new RestoreService(log: CreateLog(), progress: CreateProgress());
        return Task.CompletedTask;
    }

    protected override async Task ProcessRecordAsync()
    {
        object target = (object?)InputObject ?? Path!;
        try
        {
            var (backup, repository) = await ResolveBackupAsync(InputObject, Path).ConfigureAwait(false);
            var request = new RestoreRequest
            {
                Backup = backup,
                Repository = repository,
                Connection = _connection!,
                TargetDatabase = TargetDatabase,
                Jobs = Jobs,
                NoOwner = NoOwner.IsPresent,
                DropPrevious = DropPrevious.IsPresent,
            };
            target = request.EffectiveTargetDatabase;
            var plan = await _service!.PlanAsync(request, CancellationToken).ConfigureAwait(false);
            if (!Confirm(plan, backup))
            {
                return;
            }

            Emit(await _service.RunAsync(request, plan, CancellationToken).ConfigureAwait(false));
        }
        catch (PgBackupException ex) when (ex is not ReplaceNotConfirmedException)
        {
            EmitError(ex, target);
        }
    }

    /// <summary>
    /// ShouldProcess for both cases, and for a replace one confirmation more unless -Force — but
    /// never a prompt that nobody can answer: a non-interactive host gets ReplaceNotConfirmed.
    /// Creating a new database is not destructive, so it prompts only when asked (-Confirm, or a
    /// $ConfirmPreference of Medium or lower), not merely because this cmdlet's impact is High.
    /// </summary>
    private bool Confirm(RestorePlan plan, BackupInfo backup)
    {
        var description = plan.Describe(backup);
        var whatIf = _whatIf;
        var confirmBound = MyInvocation.BoundParameters.TryGetValue("Confirm", out var confirmValue);
        var confirmExplicit = confirmBound && confirmValue is SwitchParameter { IsPresent: true };
        var confirmPreference = _confirmPreference;

        if (!plan.TargetExists)
        {
            // Skipped only when ShouldProcess would prompt just because of this cmdlet's High impact.
            if (whatIf || confirmBound || confirmPreference != ConfirmImpact.High)
            {
                return AskShouldProcess(description, description + " Continue?", "Restore-PgBackup");
            }

            EmitVerbose(description);
            return true;
        }

        var caption = $"Replace database \"{plan.TargetDatabase}\" on {plan.Server}";
        if (whatIf)
        {
            return AskShouldProcess(description, description + " Continue?", caption);
        }

        if (Force && !confirmExplicit)
        {
            EmitVerbose(description);
            return true;
        }

        if (!Force && !Interactivity.IsInteractiveProcess())
        {
            throw new ReplaceNotConfirmedException(
                $"The database \"{plan.TargetDatabase}\" exists on {plan.Server}; replacing it with backup {backup.Id} needs confirmation, " +
                "and this session is not interactive (CI, a scheduled task, -NonInteractive or redirected input). Add -Force to replace it unattended, " +
                "or -TargetDatabase to restore into a new database.",
                plan.TargetDatabase);
        }

        if (!AskShouldProcess(description, description + " Continue?", caption))
        {
            return false;
        }

        // ShouldProcess has prompted already unless $ConfirmPreference is None or -Confirm:$false was given.
        var shouldProcessPrompted = confirmExplicit || (!confirmBound && confirmPreference != ConfirmImpact.None);
        return Force || shouldProcessPrompted || AskShouldContinue(description, caption);
    }

    private bool IsSwitchOn(string parameter, string preferenceVariable)
    {
        if (MyInvocation.BoundParameters.TryGetValue(parameter, out var value))
        {
            return value is SwitchParameter { IsPresent: true };
        }

        return LanguagePrimitives.IsTrue(SessionState.PSVariable.GetValue(preferenceVariable));
    }

    private ConfirmImpact ConfirmPreference()
        => LanguagePrimitives.TryConvertTo<ConfirmImpact>(SessionState.PSVariable.GetValue("ConfirmPreference"), out var value) ? value : ConfirmImpact.High;
}
