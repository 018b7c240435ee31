using System.Management.Automation;
using PgBackup.Catalog;
using PgBackup.Completion;
using PgBackup.Errors;

namespace PgBackup.Commands;

/// <summary>
/// <para type="synopsis">Lists the backups in a repository, newest first, from their manifests.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "PgBackupInfo", DefaultParameterSetName = RepositorySet)]
[OutputType(typeof(BackupInfo), ParameterSetName = [RepositorySet, PathSet, LiteralPathSet])]
[OutputType(typeof(BackupSummary), ParameterSetName = [SummarySet])]
public sealed class GetPgBackupInfoCommand : PgBackupCmdlet
{
    private const string RepositorySet = "Repository";
    private const string PathSet = "Path";
    private const string LiteralPathSet = "LiteralPath";
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

    /// <summary>Only the backups with these Ids (wildcards allowed); Tab completes the Ids in the repository.</summary>
    [Parameter(ParameterSetName = RepositorySet)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(BackupIdCompleter))]
    public string[]? Id { get; set; }

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

    /// <summary>Backups by manifest (or artifact) path or URI; wildcards in a local path are expanded.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PathSet, ValueFromPipeline = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Path { get; set; }

    /// <summary>Backups by manifest (or artifact) path or URI, taken exactly as written (no wildcards); binds FullName and ManifestLocation from the pipeline.</summary>
    [Parameter(Mandatory = true, ParameterSetName = LiteralPathSet, ValueFromPipelineByPropertyName = true)]
    [Alias("LP", "ManifestLocation", "FullName")]
    [ValidateNotNullOrEmpty]
    public string[]? LiteralPath { get; set; }

    private protected override void OnRecord()
    {
        if (ParameterSetName is PathSet or LiteralPathSet)
        {
            // Every path resolved here, on the pipeline thread, before any is read.
            var references = ParameterSetName == PathSet ? ReferencesFor(Path!, literal: false) : ReferencesFor(LiteralPath!, literal: true);
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
        var query = new CatalogQuery { DatabasePatterns = Database ?? [], IdPatterns = Id ?? [], LatestOnly = Latest.IsPresent, Since = Since, Status = Status, Kind = Kind };
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
