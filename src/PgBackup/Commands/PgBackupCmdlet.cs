using System.Collections;
using System.Management.Automation;
using PgBackup.Catalog;
using PgBackup.Diagnostics;
using PgBackup.Completion;
using PgBackup.Errors;
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
    [ArgumentCompleter(typeof(S3RegionCompleter))]
    public string? S3Region { get; set; }

    /// <summary>
    /// The audit log: one JSON line per outcome (backup, test, restore, removal, listing, failure) is appended to this
    /// file; else to $env:PGBACKUP_LOG; else nothing is logged.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? LogPath { get; set; }

    private AuditTrail? _audit;

    /// <summary>This invocation's audit trail, opened on first use (on the pipeline thread: -LogPath is resolved against the current location).</summary>
    private protected sealed override AuditTrail Audit => _audit ??= OpenAuditTrail();

    private AuditTrail OpenAuditTrail()
    {
        var operation = MyInvocation.MyCommand?.Name ?? GetType().Name;
        var path = string.IsNullOrWhiteSpace(LogPath) ? System.Environment.GetEnvironmentVariable(AuditLog.PathVariable) : LogPath;
        AuditLog? log = null;
        if (!string.IsNullOrWhiteSpace(path))
        {
            try
            {
                log = new AuditLog(ResolveLocation(path));
            }
            catch (Exception ex) when (ex is ArgumentException or NotSupportedException or SessionStateException or PSInvalidOperationException)
            {
                WriteWarning($"Could not open the audit log {path}: {ex.Message} Nothing is logged by this command.");
            }
        }

        return new AuditTrail(log, operation, WriteWarning);
    }

    /// <summary>Options for S3 repositories; cmdlets that write add their storage settings.</summary>
    private protected virtual S3RepositoryOptions S3Options => new() { Endpoint = S3Endpoint, Region = S3Region };

    /// <summary>Options for Azure Blob repositories; cmdlets that write add their storage settings.</summary>
    private protected virtual AzureRepositoryOptions AzureOptions => new();

    /// <summary>
    /// -Repository, else $env:PGBACKUP_REPOSITORY, else ./backups. Local paths are resolved against
    /// PowerShell's current location (not the process's), as users expect. Pipeline thread only.
    /// </summary>
    private protected IBackupRepository OpenRepository(string? location)
    {
        location = string.IsNullOrWhiteSpace(location)
            ? System.Environment.GetEnvironmentVariable(RepositoryFactory.RepositoryVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment : "./backups"
            : location;
        var repository = RepositoryFactory.Open(ResolveLocation(location), S3Options, AzureOptions);
        Audit.Repository = repository.Location;
        return repository;
    }

    /// <summary>Makes a local path absolute (PowerShell's current location); leaves URIs alone. Pipeline thread only.</summary>
    private protected string ResolveLocation(string location)
    {
        EnsurePipelineThread();
        RepositoryFactory.RejectMalformedUri(location);
        return location.Contains("://", StringComparison.Ordinal)
            ? location
            : SessionState.Path.GetUnresolvedProviderPathFromPSPath(location);
    }

    /// <summary>
    /// The backup a cmdlet works on — a BackupInfo from the pipeline (-InputObject) or a manifest or artifact
    /// path/URI (-Path) — with its path already resolved here, on the pipeline thread; <see cref="BackupReference.OpenAsync"/>
    /// then reads it from the async work.
    /// </summary>
    private protected BackupReference Reference(BackupInfo? inputObject, string? path)
        => inputObject is not null
            ? new BackupReference(inputObject, null, inputObject, S3Options, AzureOptions)
            : new BackupReference(null, ResolveLocation(path ?? throw new ArgumentNullException(nameof(path))), path, S3Options, AzureOptions);

    /// <summary>
    /// The backups named by -Path (<paramref name="literal"/> false) or -LiteralPath, resolved here on the pipeline
    /// thread. URIs (s3://, az://, https://) pass as given. A local -Path with wildcard characters expands like
    /// Resolve-Path; the files it matches are taken once per backup (an artifact and its manifest are one backup),
    /// and a pattern that matches nothing is a non-terminating BackupPathNotFound error. -LiteralPath, and a -Path
    /// without wildcard characters, is taken as written.
    /// </summary>
    private protected List<BackupReference> ReferencesFor(IEnumerable<string> paths, bool literal)
    {
        EnsurePipelineThread();
        var references = new List<BackupReference>();
        foreach (var path in paths)
        {
            if (literal || path.Contains("://", StringComparison.Ordinal) || !WildcardPattern.ContainsWildcardCharacters(path))
            {
                references.Add(Reference(null, path));
                continue;
            }

            var matches = ExpandLocalWildcard(path);
            if (matches.Count == 0)
            {
                WriteError(ErrorRecords.From(
                    new BackupPathNotFoundException($"No backup matches the path \"{path}\": no file or folder has a name like it.", path)));
                continue;
            }

            references.AddRange(matches
                .Select(BackupNaming.ManifestKeyOf)
                .Distinct(StringComparer.Ordinal)
                .Select(manifest => new BackupReference(null, manifest, manifest, S3Options, AzureOptions)));
        }

        return references;
    }

    /// <summary>The file-system paths a wildcard matches, sorted; none when nothing matches.</summary>
    private List<string> ExpandLocalWildcard(string path)
    {
        try
        {
            var resolved = SessionState.Path.GetResolvedProviderPathFromPSPath(path, out var provider);
            return provider.Name == "FileSystem"
                ? resolved.Order(StringComparer.Ordinal).ToList()
                : [];
        }
        catch (ItemNotFoundException)
        {
            return [];
        }
    }

    /// <summary>Reads the backup at an already resolved manifest or artifact location (path or URI).</summary>
    private protected static async Task<(BackupInfo Backup, IBackupRepository Repository)> ReadBackupAtAsync(
        string resolvedLocation, S3RepositoryOptions s3Options, AzureRepositoryOptions azureOptions, CmdletPipeline pipeline, CancellationToken cancellationToken)
    {
        var (repositoryLocation, manifestKey) = BackupAddress.Split(resolvedLocation);
        var repository = RepositoryFactory.Open(repositoryLocation, s3Options, azureOptions);
        var backup = await new BackupCatalog(repository, pipeline.Log).ReadAsync(manifestKey, cancellationToken).ConfigureAwait(false);
        return (backup, repository);
    }

    /// <summary>
    /// The repository a BackupInfo came from, reached as it was then (its descriptor) wherever this cmdlet's own
    /// parameters leave that open: `Get-PgBackupInfo -S3Endpoint … | Restore-PgBackup` needs the endpoint only once,
    /// and a piped az:// backup finds its account without AZURE_STORAGE_ACCOUNT.
    /// </summary>
    private protected static IBackupRepository OpenRepositoryOf(BackupInfo backup, S3RepositoryOptions s3Options, AzureRepositoryOptions azureOptions)
        => RepositoryFactory.Open(backup.RepositoryDescriptor ?? new RepositoryDescriptor(backup.Repository), s3Options, azureOptions);

    private protected static Dictionary<string, string> ToStringDictionary(Hashtable? table)
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

    /// <summary>A backup to work on, with everything session-bound already resolved.</summary>
    /// <param name="Backup">The piped BackupInfo, or null for a location to read.</param>
    /// <param name="Location">The resolved manifest or artifact location, or null for a piped backup.</param>
    /// <param name="Target">What errors about it name: the BackupInfo or the path as the user gave it.</param>
    /// <param name="S3Options">The S3 options of the cmdlet, read on the pipeline thread.</param>
    /// <param name="AzureOptions">The Azure options of the cmdlet, read on the pipeline thread.</param>
    private protected sealed record BackupReference(BackupInfo? Backup, string? Location, object Target, S3RepositoryOptions S3Options, AzureRepositoryOptions AzureOptions)
    {
        public async Task<(BackupInfo Backup, IBackupRepository Repository)> OpenAsync(CmdletPipeline pipeline, CancellationToken cancellationToken)
            => Backup is not null
                ? (Backup, OpenRepositoryOf(Backup, S3Options, AzureOptions))
                : await ReadBackupAtAsync(Location!, S3Options, AzureOptions, pipeline, cancellationToken).ConfigureAwait(false);
    }
}
