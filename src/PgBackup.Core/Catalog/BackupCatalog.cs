using PgBackup.Diagnostics;
using PgBackup.Errors;
using PgBackup.Storage;

namespace PgBackup.Catalog;

/// <summary>Which backups to list.</summary>
internal sealed record CatalogQuery
{
    /// <summary>Wildcard patterns (<c>*</c>, <c>?</c>) on the database name; empty means all.</summary>
    public IReadOnlyList<string> DatabasePatterns { get; init; } = [];

    public DateTime? Since { get; init; }

    public BackupStatus? Status { get; init; }

    /// <summary>Only the newest backup per database (newest Succeeded unless <see cref="Status"/> says otherwise).</summary>
    public bool LatestOnly { get; init; }
}

/// <summary>Reads manifests from a repository and turns them into <see cref="BackupInfo"/>.</summary>
internal sealed class BackupCatalog(IBackupRepository repository, IOperationLog? log = null)
{
    private const int ParallelReads = 16;

    private readonly IOperationLog _log = log ?? NullOperationLog.Instance;

    public IBackupRepository Repository => repository;

    /// <summary>Lists backups newest first. Unreadable manifests are reported as warnings and skipped.</summary>
    public async Task<IReadOnlyList<BackupInfo>> ListAsync(CatalogQuery query, CancellationToken cancellationToken)
    {
        await repository.EnsureExistsAsync(cancellationToken).ConfigureAwait(false);

        var manifestKeys = new List<string>();
        await foreach (var item in repository.ListAsync(string.Empty, cancellationToken).ConfigureAwait(false))
        {
            if (BackupNaming.IsManifestKey(item.Key))
            {
                manifestKeys.Add(item.Key);
            }
        }

        var results = new BackupInfo?[manifestKeys.Count];
        await Parallel.ForAsync(0, manifestKeys.Count, new ParallelOptions { MaxDegreeOfParallelism = ParallelReads, CancellationToken = cancellationToken }, async (i, ct) =>
        {
            try
            {
                results[i] = await ReadAsync(manifestKeys[i], ct).ConfigureAwait(false);
            }
            catch (PgBackupException ex) when (ex is InvalidManifestException or RepositoryReadFailedException)
            {
                _log.Warning($"Skipping {repository.GetObjectLocation(manifestKeys[i])}: {ex.Message}");
            }
        }).ConfigureAwait(false);

        var matchers = query.DatabasePatterns.Select(WildcardMatcher.Create).ToArray();
        IEnumerable<BackupInfo> selected = results
            .OfType<BackupInfo>()
            .Where(b => matchers.Length == 0 || matchers.Any(m => m(b.Database)))
            .Where(b => query.Since is null || b.StartedAt >= query.Since.Value.ToUniversalTime())
            .OrderByDescending(b => b.StartedAt)
            .ThenByDescending(b => b.Id, StringComparer.Ordinal);

        if (query.LatestOnly)
        {
            var status = query.Status ?? BackupStatus.Succeeded;
            selected = selected.Where(b => b.Status == status).GroupBy(b => b.Database, StringComparer.Ordinal).Select(g => g.First())
                .OrderByDescending(b => b.StartedAt);
        }
        else if (query.Status is { } status)
        {
            selected = selected.Where(b => b.Status == status);
        }

        return selected.ToList();
    }

    /// <summary>Reads one manifest by key.</summary>
    public async Task<BackupInfo> ReadAsync(string manifestKey, CancellationToken cancellationToken)
    {
        var bytes = await repository.ReadSmallObjectAsync(manifestKey, cancellationToken).ConfigureAwait(false);
        var manifest = ManifestSerializer.Deserialize(bytes, repository.GetObjectLocation(manifestKey));
        return ToBackupInfo(manifest, manifestKey);
    }

    /// <summary>The output object for a manifest stored under <paramref name="manifestKey"/>.</summary>
    public BackupInfo ToBackupInfo(BackupManifest manifest, string manifestKey)
    {
        var folder = manifestKey.Contains('/') ? manifestKey[..(manifestKey.LastIndexOf('/') + 1)] : string.Empty;
        var artifactKey = manifest.Artifact is null ? null : folder + manifest.Artifact;
        return new BackupInfo
        {
            Id = manifest.Id,
            Database = manifest.Database,
            Server = manifest.Server,
            ServerVersion = manifest.ServerVersion,
            PgDumpVersion = manifest.PgDumpVersion,
            StartedAt = DateTime.SpecifyKind(manifest.StartedAt, DateTimeKind.Utc),
            CompletedAt = manifest.CompletedAt is { } c ? DateTime.SpecifyKind(c, DateTimeKind.Utc) : null,
            Format = manifest.Format,
            Compression = manifest.Compression,
            CompressionLevel = manifest.CompressionLevel,
            SchemaOnly = manifest.SchemaOnly,
            SizeBytes = manifest.SizeBytes,
            Sha256 = manifest.Sha256,
            Location = artifactKey is null ? null : repository.GetObjectLocation(artifactKey),
            ManifestLocation = repository.GetObjectLocation(manifestKey),
            Repository = repository.Location,
            RepositoryDescriptor = repository.Descriptor,
            Status = manifest.Status,
            Error = manifest.Error,
            Environment = manifest.Environment,
            Tags = new Dictionary<string, string>(manifest.Tags, StringComparer.Ordinal),
            RowCounts = manifest.RowCounts is null ? null : new Dictionary<string, long>(manifest.RowCounts, StringComparer.Ordinal),
            ArtifactKey = artifactKey,
            ManifestKey = manifestKey,
            ToolVersion = manifest.ToolVersion,
            CompressionStage = manifest.CompressionStage,
        };
    }
}

/// <summary>PowerShell-style wildcards (<c>*</c>, <c>?</c>, <c>[abc]</c>), case-insensitive, without a PowerShell reference.</summary>
internal static class WildcardMatcher
{
    public static Func<string, bool> Create(string pattern)
    {
        var regex = new System.Text.StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '*':
                    regex.Append(".*");
                    break;
                case '?':
                    regex.Append('.');
                    break;
                case '`' when i + 1 < pattern.Length:
                    regex.Append(System.Text.RegularExpressions.Regex.Escape(pattern[++i].ToString()));
                    break;
                case '[':
                    var close = pattern.IndexOf(']', i + 1);
                    if (close > i + 1)
                    {
                        regex.Append('[').Append(pattern[(i + 1)..close].Replace("\\", "\\\\", StringComparison.Ordinal)).Append(']');
                        i = close;
                    }
                    else
                    {
                        regex.Append("\\[");
                    }

                    break;
                default:
                    regex.Append(System.Text.RegularExpressions.Regex.Escape(c.ToString()));
                    break;
            }
        }

        var compiled = new System.Text.RegularExpressions.Regex(regex.Append('$').ToString(),
            System.Text.RegularExpressions.RegexOptions.IgnoreCase | System.Text.RegularExpressions.RegexOptions.CultureInvariant | System.Text.RegularExpressions.RegexOptions.Singleline);
        return compiled.IsMatch;
    }
}
