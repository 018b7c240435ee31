using System.Management.Automation;
using PgBackup.Catalog;
using PgBackup.Errors;
using PgBackup.Storage;

namespace PgBackup.Commands;

/// <summary>
/// <para type="synopsis">Lists the backups in a repository, newest first, from their manifests.</para>
/// </summary>
[Cmdlet(VerbsCommon.Get, "PgBackupInfo", DefaultParameterSetName = RepositorySet)]
[OutputType(typeof(BackupInfo))]
public sealed class GetPgBackupInfoCommand : PgBackupCmdlet
{
    private const string RepositorySet = "Repository";
    private const string PathSet = "Path";

    [Parameter(Position = 0, ParameterSetName = RepositorySet)]
    [Alias("Destination")]
    [ValidateNotNullOrEmpty]
    public string? Repository { get; set; }

    [Parameter(ParameterSetName = RepositorySet)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[]? Database { get; set; }

    [Parameter(ParameterSetName = RepositorySet)]
    public SwitchParameter Latest { get; set; }

    /// <summary>A manifest (or artifact) path or URI.</summary>
    [Parameter(Mandatory = true, ParameterSetName = PathSet, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("ManifestLocation", "FullName")]
    [ValidateNotNullOrEmpty]
    public string[]? Path { get; set; }

    protected override async Task ProcessRecordAsync()
    {
        if (ParameterSetName == PathSet)
        {
            foreach (var path in Path!)
            {
                try
                {
                    var (backup, _) = await ResolveBackupAsync(null, path).ConfigureAwait(false);
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
            new CatalogQuery { DatabasePatterns = Database ?? [], LatestOnly = Latest.IsPresent },
            CancellationToken).ConfigureAwait(false);
        foreach (var backup in backups)
        {
            Emit(backup);
        }
    }
}
