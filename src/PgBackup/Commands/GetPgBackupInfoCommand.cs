using System.Management.Automation;
using PgBackup.Catalog;
using PgBackup.Errors;
using PgBackup.Storage;

namespace PgBackup.Commands;

/// <summary>
/// <para type="synopsis">Lists the backups in a repository, newest first, from their manifests.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "PgBackupInfo", DefaultParameterSetName = RepositorySet)]
[OutputType(typeof(BackupInfo), ParameterSetName = [RepositorySet, PathSet])]
[OutputType(typeof(BackupSummary), ParameterSetName = [SummarySet])]
public sealed class GetPgBackupInfoCommand : PgBackupCmdlet
{
    private const string RepositorySet = "Repository";
    private const string PathSet = "Path";
    private const string SummarySet = "Summary";

    [Parameter(Position = 0, ParameterSetName = RepositorySet)]
    [Parameter(Position = 0, ParameterSetName = SummarySet)]
    [Alias("Destination")]
    [ValidateNotNullOrEmpty]
    public string? Repository { get; set; }

    [Parameter(ParameterSetName = RepositorySet)]
    [Parameter(ParameterSetName = SummarySet)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Database { get; set; }

    [Parameter(ParameterSetName = RepositorySet)]
    public SwitchParameter Latest { get; set; }

    /// <summary>Only backups started at or after this time (a local time unless it says otherwise).</summary>
    [Parameter(ParameterSetName = RepositorySet)]
    [Parameter(ParameterSetName = SummarySet)]
    public DateTime? Since { get; set; }

    [Parameter(ParameterSetName = RepositorySet)]
    [Parameter(ParameterSetName = SummarySet)]
    public BackupStatus? Status { get => (BackupStatus?)_status; set => _status = (int?)value; }

    // Stored as the enum's int, not the enum: PowerShell loads this class before PgBackup.Core is resolvable
    // (Loading/ModuleAssemblyLoader), and a field typed with a Core enum would need Core right then.
    private int? _status;

    /// <summary>One PgBackup.BackupSummary per database (count, success rate, size, last success...) instead of each backup.</summary>
    [Parameter(Mandatory = true, ParameterSetName = SummarySet)]
    public SwitchParameter Summary { get; set; }

    /// <summary>A manifest (or artifact) path or URI.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PathSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("ManifestLocation", "FullName")]
    [ValidateNotNullOrEmpty]
    public string[]? Path { get; set; }

    protected override async Task ProcessRecordAsync()
    {
        if (ParameterSetName == PathSet)
        {
            // Resolved up front, on the pipeline thread: later iterations run after an await.
            foreach (var (path, location) in Path!.Select(p => (p, ResolveLocation(p))).ToList())
            {
                try
                {
                    var (backup, _) = await ReadBackupAtAsync(location).ConfigureAwait(false);
                    Emit(backup);
                }
                catch (PgBackupException ex)
                {
                    EmitError(ex, path);
                }
            }

            return;
        }

        var repository = OpenRepository(Repository);
        var backups = await new BackupCatalog(repository, CreateLog()).ListAsync(
            new CatalogQuery { DatabasePatterns = Database ?? [], LatestOnly = Latest.IsPresent, Since = Since, Status = Status },
            CancellationToken).ConfigureAwait(false);
        if (Summary.IsPresent)
        {
            foreach (var summary in BackupSummaries.Summarize(backups))
            {
                Emit(summary);
            }

            return;
        }

        foreach (var backup in backups)
        {
            Emit(backup);
        }
    }
}
