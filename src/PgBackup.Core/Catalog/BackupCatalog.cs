using System.Globalization;
using PgBackup.Diagnostics;
using PgBackup.Errors;
using PgBackup.Storage;

namespace PgBackup.Catalog;

/// <summary>Which backups to list.</summary>
internal sealed record CatalogQuery
{
    /// <summary>Wildcard patterns (<c>*</c>, <c>?</c>) on the database name; empty means all.</summary>
    public IReadOnlyList<string> DatabasePatterns { get; init; } = [];

    /// <summary>Wildcard patterns on the backup Id; empty means all.</summary>
    public IReadOnlyList<string> IdPatterns { get; init; } = [];

    public DateTime? Since { get; init; }

    public BackupStatus? Status { get; init; }

    /// <summary>Only backups of this kind; null means both.</summary>
    public BackupKind? Kind { get; init; }

    /// <summary>Only the newest backup per database (and the newest globals backup) (newest Succeeded unless <see cref="Status"/> says otherwise).</summary>
    public bool LatestOnly { get; init; }
}

/// <summary>Reads manifests from a repository and turns them into <see cref="BackupInfo"/>.</summary>
/// <remarks>
/// List by key, fetch by need: a key already names its database and start second
/// (<see cref="BackupNaming.TryParseKey"/>), so the database patterns and -Since are applied to the listing before a
/// manifest is fetched, and -Latest reads each database's keys newest first only until it finds its answer. What a
/// fetched manifest says is still checked against the query: the key only narrows what is read.
/// </remarks>
internal sealed class BackupCatalog(IBackupRepository repository, IOperationLog? log = null, TimeProvider? clock = null)
{
    /// <summary>How far in the future a start time may be and still count as now: clocks of backup hosts drift.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(5);

    private const int ParallelReads = 16;

    private readonly IOperationLog _log = log ?? NullOperationLog.Instance;
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public IBackupRepository Repository => repository;

    /// <summary>
    /// A backup said to start beyond the clock skew after <paramref name="nowUtc"/> (a wrong clock or a crafted
    /// manifest): never the newest, never counted by retention, never expired by age.
    /// </summary>
    public static bool IsFutureDated(DateTime startedAt, DateTime nowUtc)
        => (startedAt.Kind == DateTimeKind.Local ? startedAt.ToUniversalTime() : startedAt) > nowUtc + ClockSkew;

    /// <summary>The warning that names a future-dated backup (the same words wherever one is met).</summary>
    public static string FutureDatedWarning(string manifestLocation, DateTime startedAtUtc)
        => string.Create(CultureInfo.InvariantCulture,
            $"{manifestLocation} says it started at {startedAtUtc:yyyy-MM-dd HH:mm:ss}Z, in the future: it is never taken as the newest backup, not counted by retention rules and never expired by age. Check the clock of the host that wrote it.");

    /// <summary>Lists backups newest first. Unreadable manifests are reported as warnings and skipped.</summary>
    public async Task<IReadOnlyList<BackupInfo>> ListAsync(CatalogQuery query, CancellationToken cancellationToken)
    {
        await repository.EnsureExistsAsync(cancellationToken).ConfigureAwait(false);

        var nowUtc = _clock.GetUtcNow().UtcDateTime;
        var matchers = query.DatabasePatterns.Select(WildcardMatcher.Create).ToArray();
        var since = query.Since?.ToUniversalTime();
        bool Wanted(string database) => matchers.Length == 0 || matchers.Any(m => m(database));
        var idMatchers = query.IdPatterns.Select(WildcardMatcher.Create).ToArray();
        bool WantedId(string id) => idMatchers.Length == 0 || idMatchers.Any(m => m(id));

        var unnamed = new List<string>();
        var named = new List<(string Key, string Database, DateTime StartedAtUtc, BackupKind Kind)>();
        var signatures = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var item in repository.ListAsync(string.Empty, cancellationToken).ConfigureAwait(false))
        {
            if (BackupNaming.IsSignatureKey(item.Key))
            {
                signatures.Add(item.Key);
                continue;
            }

            if (!BackupNaming.IsManifestKey(item.Key))
            {
                continue;
            }

            if (!BackupNaming.TryParseKey(item.Key, out var parsed))
            {
                unnamed.Add(item.Key);
            }
            else if (Wanted(parsed.Database) && (query.Kind is null || parsed.Kind == query.Kind) && (!BackupNaming.TryGetId(item.Key, out var id) || WantedId(id)) && (since is null || parsed.StartedAtUtc.AddSeconds(1) > since.Value))
            {
                // The key holds the start to the second: the manifest's own time is within that second.
                named.Add((item.Key, parsed.Database, parsed.StartedAtUtc, parsed.Kind));
            }
        }

        var status = query.LatestOnly ? query.Status ?? BackupStatus.Succeeded : query.Status;
        bool Selected(BackupInfo b)
            => Wanted(b.Database)
            && (query.Kind is null || b.Kind == query.Kind)
            && WantedId(b.Id)
            && (since is null || b.StartedAt >= since.Value)
            && (status is null || b.Status == status)
            && !(query.LatestOnly && IsFutureDated(b.StartedAt, nowUtc));

        // Signed or not is the listing's answer: a .sig next to the manifest (no extra request per backup).
        bool Signed(string manifestKey) => signatures.Contains(BackupNaming.SignatureKeyFor(manifestKey));
        var read = new List<BackupInfo>(await ReadManyAsync(unnamed, Signed, nowUtc, cancellationToken).ConfigureAwait(false));
        if (query.LatestOnly)
        {
            // One series per kind and database: the globals never stand in for a database that happens to share the name.
            var groups = named.GroupBy(k => (k.Kind, k.Database)).ToList();
            var perDatabase = new BackupInfo?[groups.Count];
            await Parallel.ForAsync(0, groups.Count, new ParallelOptions { MaxDegreeOfParallelism = ParallelReads, CancellationToken = cancellationToken }, async (i, ct) =>
            {
                // Newest second first; stop at the first second with a manifest that answers the query. Keys name the
                // start only to the second and their suffix is random, so backups of the same second are all read and
                // ordered by the manifests' own start times.
                foreach (var second in groups[i].GroupBy(k => k.StartedAtUtc).OrderByDescending(g => g.Key))
                {
                    if (IsFutureDated(second.Key, nowUtc))
                    {
                        foreach (var key in second)
                        {
                            _log.Warning(FutureDatedWarning(repository.GetObjectLocation(key.Key), key.StartedAtUtc));
                        }

                        continue;
                    }

                    BackupInfo? newest = null;
                    foreach (var key in second)
                    {
                        if (await TryReadAsync(key.Key, Signed(key.Key), nowUtc, ct).ConfigureAwait(false) is { } backup && Selected(backup) && (newest is null || IsNewer(backup, newest)))
                        {
                            newest = backup;
                        }
                    }

                    if (newest is not null)
                    {
                        perDatabase[i] = newest;
                        return;
                    }
                }
            }).ConfigureAwait(false);
            read.AddRange(perDatabase.OfType<BackupInfo>());
        }
        else
        {
            read.AddRange(await ReadManyAsync(named.Select(k => k.Key).ToList(), Signed, nowUtc, cancellationToken).ConfigureAwait(false));
        }

        IEnumerable<BackupInfo> selected = read
            .Where(Selected)
            .OrderByDescending(b => b.StartedAt)
            .ThenByDescending(b => b.Id, StringComparer.Ordinal);
        if (query.LatestOnly)
        {
            selected = selected.GroupBy(b => (b.Kind, b.Database)).Select(g => g.First()).OrderByDescending(b => b.StartedAt);
        }

        return selected.ToList();
    }

    /// <summary>
    /// The Ids of the backups in the repository, newest first, from the listing alone (no manifest is read: quick
    /// enough for tab completion). Keys outside the layout are left out.
    /// </summary>
    public async Task<IReadOnlyList<string>> ListIdsAsync(CancellationToken cancellationToken)
    {
        var ids = new List<(string Id, DateTime StartedAtUtc)>();
        await foreach (var item in repository.ListAsync(string.Empty, cancellationToken).ConfigureAwait(false))
        {
            if (BackupNaming.IsManifestKey(item.Key) && BackupNaming.TryGetId(item.Key, out var id) && BackupNaming.TryParseKey(item.Key, out var parsed))
            {
                ids.Add((id, parsed.StartedAtUtc));
            }
        }

        return ids.OrderByDescending(entry => entry.StartedAtUtc).ThenByDescending(entry => entry.Id, StringComparer.Ordinal).Select(entry => entry.Id).ToList();
    }

    /// <summary>The order every listing uses: start time, then Id.</summary>
    private static bool IsNewer(BackupInfo candidate, BackupInfo than)
        => candidate.StartedAt != than.StartedAt ? candidate.StartedAt > than.StartedAt : string.CompareOrdinal(candidate.Id, than.Id) > 0;

    /// <summary>Reads manifests in parallel; the unreadable ones are warned about and left out.</summary>
    private async Task<IReadOnlyList<BackupInfo>> ReadManyAsync(IReadOnlyList<string> manifestKeys, Func<string, bool> signed, DateTime nowUtc, CancellationToken cancellationToken)
    {
        var results = new BackupInfo?[manifestKeys.Count];
        await Parallel.ForAsync(0, manifestKeys.Count, new ParallelOptions { MaxDegreeOfParallelism = ParallelReads, CancellationToken = cancellationToken }, async (i, ct) =>
        {
            results[i] = await TryReadAsync(manifestKeys[i], signed(manifestKeys[i]), nowUtc, ct).ConfigureAwait(false);
        }).ConfigureAwait(false);
        return results.OfType<BackupInfo>().ToList();
    }

    /// <summary>One manifest, or null (with a warning naming it) when it cannot be read or is not valid.</summary>
    private async Task<BackupInfo?> TryReadAsync(string manifestKey, bool signed, DateTime nowUtc, CancellationToken cancellationToken)
    {
        try
        {
            var backup = await ReadAsync(manifestKey, signed, cancellationToken).ConfigureAwait(false);
            if (IsFutureDated(backup.StartedAt, nowUtc))
            {
                _log.Warning(FutureDatedWarning(backup.ManifestLocation, backup.StartedAt));
            }

            return backup;
        }
        catch (PgBackupException ex) when (ex is InvalidManifestException or RepositoryReadFailedException)
        {
            _log.Warning($"Skipping {repository.GetObjectLocation(manifestKey)}: {ex.Message}");
            return null;
        }
    }

    /// <summary>Reads one manifest by key (and looks whether its signature is next to it).</summary>
    public async Task<BackupInfo> ReadAsync(string manifestKey, CancellationToken cancellationToken)
    {
        var manifest = await ReadManifestAsync(manifestKey, cancellationToken).ConfigureAwait(false);
        var signed = await repository.ExistsAsync(BackupNaming.SignatureKeyFor(manifestKey), cancellationToken).ConfigureAwait(false);
        return ToBackupInfo(manifest, manifestKey, signed);
    }

    /// <summary>Reads one manifest by key, whose signature the listing already found (or not).</summary>
    private async Task<BackupInfo> ReadAsync(string manifestKey, bool signed, CancellationToken cancellationToken)
        => ToBackupInfo(await ReadManifestAsync(manifestKey, cancellationToken).ConfigureAwait(false), manifestKey, signed);

    private async Task<BackupManifest> ReadManifestAsync(string manifestKey, CancellationToken cancellationToken)
    {
        var bytes = await repository.ReadSmallObjectAsync(manifestKey, cancellationToken).ConfigureAwait(false);
        return ManifestSerializer.Deserialize(bytes, repository.GetObjectLocation(manifestKey));
    }

    /// <summary>The output object for a manifest stored under <paramref name="manifestKey"/>.</summary>
    /// <param name="signed">Whether its signature (<see cref="BackupNaming.SignatureKeyFor"/>) is stored next to it.</param>
    public BackupInfo ToBackupInfo(BackupManifest manifest, string manifestKey, bool signed = false)
    {
        var folder = manifestKey.Contains('/') ? manifestKey[..(manifestKey.LastIndexOf('/') + 1)] : string.Empty;
        var artifactKey = manifest.Artifact is null ? null : folder + manifest.Artifact;
        return new BackupInfo
        {
            Id = manifest.Id,
            Database = manifest.Database,
            Kind = manifest.Kind,
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
            Signed = signed,
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
            RestoreHint = manifest.RestoreHint,
            Encrypted = manifest.Encryption is not null,
            EncryptionKeyFingerprint = manifest.Encryption is { } encryption ? [.. encryption.KeyFingerprints] : [],
        };
    }
}

/// <summary>
/// PowerShell-style wildcards (<c>*</c>, <c>?</c>, <c>[abc]</c>) without a PowerShell reference, case-sensitive:
/// PostgreSQL database names are ("shop" and "SHOP" are two databases, and retention of one must not touch the other).
/// </summary>
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
            System.Text.RegularExpressions.RegexOptions.CultureInvariant | System.Text.RegularExpressions.RegexOptions.Singleline);
        return compiled.IsMatch;
    }
}
