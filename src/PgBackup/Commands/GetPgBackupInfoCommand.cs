using System.Management.Automation;
using PgBackup.Catalog;
using PgBackup.Errors;

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
    public BackupStatus? Status { get; set; }

    /// <summary>Only backups of this kind: Database (pg_dump of one database) or Globals (roles and tablespaces).</summary>
    [Parameter(ParameterSetName = RepositorySet)]
    [Parameter(ParameterSetName = SummarySet)]
    public BackupKind? Kind { get; set; }

    /// <summary>One PgBackup.BackupSummary per database (count, success rate, size, last success...) instead of each backup.</summary>
    [Parameter(Mandatory = true, ParameterSetName = SummarySet)]
    public SwitchParameter Summary { get; set; }

    /// <summary>A manifest (or artifact) path or URI.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PathSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("ManifestLocation", "FullName")]
    [ValidateNotNullOrEmpty]
    public string[]? Path { get; set; }

    private protected override void OnRecord()
    {
        if (ParameterSetName == PathSet)
        {
            // Every path resolved here, on the pipeline thread, before any is read.
            var references = Path!.Select(path => Reference(null, path)).ToList();
            RunAsync(async (pipeline, cancellationToken) =>
            {
                foreach (var reference in references)
                {
                    try
                    {
                        var (backup, _) = await reference.OpenAsync(pipeline, cancellationToken).ConfigureAwait(false);
                        pipeline.WriteObject(backup);
                    }
                    catch (PgBackupException ex)
                    {
                        pipeline.WriteError(ex, reference.Target);
                    }
                }
            });
            return;
        }

        var repository = OpenRepository(Repository);
        var query = new CatalogQuery { DatabasePatterns = Database ?? [], LatestOnly = Latest.IsPresent, Since = Since, Status = Status, Kind = Kind };
        var summary = Summary.IsPresent;
        RunAsync(async (pipeline, cancellationToken) =>
        {
            var backups = await new BackupCatalog(repository, pipeline.Log).ListAsync(query, cancellationToken).ConfigureAwait(false);
            IEnumerable<object> output = summary ? BackupSummaries.Summarize(backups) : backups;
            foreach (var item in output)
            {
                pipeline.WriteObject(item);
            }
        });
    }
}
