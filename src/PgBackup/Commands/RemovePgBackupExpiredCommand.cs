using System.Management.Automation;
using PgBackup.Retention;

namespace PgBackup.Commands;

/// <summary>
/// <para type="synopsis">Removes the backups that no retention rule keeps, per database, never the newest Succeeded one.</para>
/// <para type="description">A backup survives when any rule keeps it: -RetentionDays (age), -KeepLast, and the newest
/// backup of each of the last -KeepDaily days, -KeepWeekly ISO weeks and -KeepMonthly months that have one (calendar
/// in the local time zone, or UTC with -Utc). Succeeded backups and Failed attempts are ranked separately, so failures
/// never push good backups out. Removes the manifest first, then the artifact. Backups still being written (no manifest)
/// are never touched; -IncludeIncomplete removes such leftovers once they are more than 24 hours old.
/// The count and bytes freed always go to the information stream; -PassThru also returns the removed backups.</para>
/// </summary>
[Cmdlet(VerbsCommon.Remove, "PgBackupExpired", DefaultParameterSetName = RepositorySet, SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(BackupInfo))]
public sealed class RemovePgBackupExpiredCommand : PgBackupCmdlet
{
    private const string RepositorySet = "Repository";
    private const string InputObjectSet = "InputObject";

    private readonly List<BackupInfo> _piped = [];
    private RetentionPolicy? _policy;
    private TimeZoneInfo? _timeZone;

    [Parameter(Position = 0, ParameterSetName = RepositorySet)]
    [Alias("Path", "Destination")]
    [ValidateNotNullOrEmpty]
    public string? Repository { get; set; }

    [Parameter(ParameterSetName = RepositorySet)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Database { get; set; }

    /// <summary>Backups from Get-PgBackupInfo; evaluated together, per repository, once the pipeline ends.</summary>
    [Parameter(Mandatory = true, ParameterSetName = InputObjectSet, ValueFromPipeline = true)]
    public BackupInfo[]? InputObject { get; set; }

    // No ValidateRange on the rules: a negative number, or -RetentionDays beyond RetentionPolicy.MaximumRetentionDays
    // (which would overflow the cut-off date), is an InvalidRetentionPolicy error (one ErrorId for every bad policy),
    // raised in OnBegin before anything is read.
    [Parameter]
    public int? RetentionDays { get; set; }

    [Parameter]
    public int? KeepLast { get; set; }

    [Parameter]
    public int? KeepDaily { get; set; }

    [Parameter]
    public int? KeepWeekly { get; set; }

    [Parameter]
    public int? KeepMonthly { get; set; }

    /// <summary>Calendar days, weeks and months in UTC instead of this machine's time zone.</summary>
    [Parameter]
    public SwitchParameter Utc { get; set; }

    [Parameter(ParameterSetName = RepositorySet)]
    public SwitchParameter IncludeIncomplete { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    private protected override void OnBegin()
    {
        // Refuse a bad policy before a single object is read or removed.
        _policy = new RetentionPolicy
        {
            RetentionDays = RetentionDays,
            KeepLast = KeepLast,
            KeepDaily = KeepDaily,
            KeepWeekly = KeepWeekly,
            KeepMonthly = KeepMonthly,
        };
        _policy.Validate();
        _timeZone = Utc.IsPresent ? TimeZoneInfo.Utc : TimeZoneInfo.Local;
    }

    private protected override void OnRecord()
    {
        if (InputObject is not null)
        {
            _piped.AddRange(InputObject);
        }
    }

    private protected override void OnEnd()
    {
        // "Get-PgBackupInfo -Database nomatch | Remove-PgBackupExpired -KeepLast 3" binds no object, and PowerShell
        // then reports the default (Repository) set: never let an empty pipeline expire the default repository.
        if (ParameterSetName == RepositorySet && !MyInvocation.ExpectingInput)
        {
            var request = new RetentionRequest
            {
                Repository = OpenRepository(Repository),
                Policy = _policy!,
                TimeZone = _timeZone!,
                DatabasePatterns = Database ?? [],
                IncludeIncomplete = IncludeIncomplete.IsPresent,
            };
            RunAsync((pipeline, cancellationToken) => RunAsync(request, pipeline, cancellationToken));
            return;
        }

        if (_piped.Count == 0)
        {
            RunAsync((pipeline, _) =>
            {
                pipeline.WriteInformation("No backups were piped in: removed 0 expired backup(s), freeing 0 bytes.", "PgBackup", "Retention");
                return Task.CompletedTask;
            });
            return;
        }

        // Per repository, all piped backups together: "keep the last 3" needs to see them all.
        var groups = _piped.GroupBy(backup => backup.Repository, StringComparer.Ordinal).Select(group => group.ToList()).ToList();
        var s3Options = S3Options;
        var azureOptions = AzureOptions;
        RunAsync(async (pipeline, cancellationToken) =>
        {
            foreach (var group in groups)
            {
                var request = new RetentionRequest
                {
                    Repository = OpenRepositoryOf(group[0], s3Options, azureOptions),
                    Policy = _policy!,
                    TimeZone = _timeZone!,
                    Backups = group,
                };
                await RunAsync(request, pipeline, cancellationToken).ConfigureAwait(false);
            }
        });
    }

    private async Task RunAsync(RetentionRequest request, CmdletPipeline pipeline, CancellationToken cancellationToken)
    {
        var result = await new RetentionService(pipeline.Log).RunAsync(
            request,
            (target, action, token) => pipeline.ShouldProcessAsync(target, action, token),
            cancellationToken).ConfigureAwait(false);
        foreach (var failure in result.Failures)
        {
            pipeline.WriteError(failure);
        }

        foreach (var removed in result.Removed)
        {
            if (PassThru.IsPresent)
            {
                pipeline.WriteObject(removed);
            }
            else
            {
                // The audit log records every removal, -PassThru or not.
                pipeline.RecordOutcome(removed);
            }
        }

        pipeline.WriteInformation(result.Describe(), "PgBackup", "Retention");
    }
}
