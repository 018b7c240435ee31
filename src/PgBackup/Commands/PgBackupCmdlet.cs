using System.Collections;
using System.Management.Automation;
using PgBackup.Catalog;
using PgBackup.Storage;
using PgBackup.Storage.Azure;
using PgBackup.Storage.S3;

namespace PgBackup.Commands;

/// <summary>Helpers every PgBackup cmdlet shares, and the S3 connection parameters every cmdlet accepts (Azure needs none: URLs and AZURE_STORAGE_* say it all).</summary>
public abstract class PgBackupCmdlet : AsyncPSCmdlet
{
    /// <summary>S3-compatible endpoint URL; else $env:AWS_ENDPOINT_URL_S3, $env:AWS_ENDPOINT_URL, else AWS.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? S3Endpoint { get; set; }

    /// <summary>AWS region; else the SDK chain (AWS_REGION, profile), else us-east-1 for a custom endpoint.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? S3Region { get; set; }

    /// <summary>Options for S3 repositories; cmdlets that write add their storage settings.</summary>
    protected virtual S3RepositoryOptions S3Options => new() { Endpoint = S3Endpoint, Region = S3Region };

    /// <summary>Options for Azure Blob repositories; cmdlets that write add their storage settings.</summary>
    protected virtual AzureRepositoryOptions AzureOptions => new();

    /// <summary>
    /// -Repository, else $env:PGBACKUP_REPOSITORY, else ./backups. Local paths are resolved against
    /// PowerShell's current location (not the process's), as users expect.
    /// </summary>
    protected IBackupRepository OpenRepository(string? location)
    {
        location = string.IsNullOrWhiteSpace(location)
            ? System.Environment.GetEnvironmentVariable(RepositoryFactory.RepositoryVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment : "./backups"
            : location;
        return RepositoryFactory.Open(ResolveLocation(location), S3Options, AzureOptions);
    }

    /// <summary>Makes a local path absolute (PowerShell's current location); leaves URIs alone.</summary>
    protected string ResolveLocation(string location)
    {
        return location.Contains("://", StringComparison.Ordinal)
            ? location
            : SessionState.Path.GetUnresolvedProviderPathFromPSPath(location);
    }

    /// <summary>
    /// The repository a BackupInfo came from, through the endpoint it was read through: without -S3Endpoint
    /// that of an S3 repository, and always the account endpoint of an az:// one. So
    /// `Get-PgBackupInfo -S3Endpoint … | Restore-PgBackup` needs the endpoint only once, and a piped Azure
    /// backup needs no AZURE_STORAGE_ACCOUNT. (The factory reads only the options of the location's store.)
    /// </summary>
    protected IBackupRepository OpenRepositoryOf(BackupInfo backup)
        => RepositoryFactory.Open(
            backup.Repository,
            S3Options with { Endpoint = S3Endpoint ?? backup.RepositoryEndpoint },
            AzureOptions with { ServiceEndpoint = backup.RepositoryEndpoint });

    /// <summary>
    /// The backup a cmdlet works on — a BackupInfo from the pipeline (-InputObject) or a manifest or
    /// artifact path/URI (-Path) — with the repository that holds it.
    /// </summary>
    protected async Task<(BackupInfo Backup, IBackupRepository Repository)> ResolveBackupAsync(BackupInfo? inputObject, string? path)
    {
        if (inputObject is not null)
        {
            return (inputObject, OpenRepositoryOf(inputObject));
        }

        return await ReadBackupAtAsync(ResolveLocation(path ?? throw new ArgumentNullException(nameof(path)))).ConfigureAwait(false);
    }

    /// <summary>Reads the backup at an already resolved manifest or artifact location (path or URI).</summary>
    protected async Task<(BackupInfo Backup, IBackupRepository Repository)> ReadBackupAtAsync(string resolvedLocation)
    {
        var (repositoryLocation, manifestKey) = BackupAddress.Split(resolvedLocation);
        var repository = RepositoryFactory.Open(repositoryLocation, S3Options, AzureOptions);
        var backup = await new BackupCatalog(repository, CreateLog()).ReadAsync(manifestKey, CancellationToken).ConfigureAwait(false);
        return (backup, repository);
    }

    protected static Dictionary<string, string> ToStringDictionary(Hashtable? table)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (table is null)
        {
            return result;
        }

        foreach (DictionaryEntry entry in table)
        {
            result[entry.Key.ToString() ?? string.Empty] = entry.Value?.ToString() ?? string.Empty;
        }

        return result;
    }
}
