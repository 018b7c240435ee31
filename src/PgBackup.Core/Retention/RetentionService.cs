using System.Globalization;
using PgBackup.Catalog;
using PgBackup.Diagnostics;
using PgBackup.Errors;
using PgBackup.Storage;

namespace PgBackup.Retention;

/// <summary>Asks whether one removal may go ahead (the cmdlet answers with ShouldProcess, so -WhatIf and -Confirm work).</summary>
/// <param name="target">What would be removed, as shown to the user.</param>
/// <param name="action">Why, as shown to the user.</param>
internal delegate Task<bool> ConfirmRemoval(string target, string action, CancellationToken cancellationToken);

/// <summary>What to expire, where, and by which policy.</summary>
internal sealed record RetentionRequest
{
    public required IBackupRepository Repository { get; init; }

    public required RetentionPolicy Policy { get; init; }

    /// <summary>Where calendar days, weeks and months begin. Default: this machine's time zone.</summary>
    public TimeZoneInfo TimeZone { get; init; } = TimeZoneInfo.Local;

    /// <summary>Wildcards on the database name when listing the repository; empty means every database.</summary>
    public IReadOnlyList<string> DatabasePatterns { get; init; } = [];

    /// <summary>
    /// When set, evaluate exactly these backups (from the pipeline) instead of listing the repository.
    /// Safe: the newest Succeeded backup among them is kept, and nothing outside them is touched,
    /// so the repository always keeps its newest Succeeded backup of each database.
    /// </summary>
    public IReadOnlyList<BackupInfo>? Backups { get; init; }

    /// <summary>Also remove leftovers of backups that never committed, once older than <see cref="IncompleteArtifacts.MinimumAge"/>.</summary>
    public bool IncludeIncomplete { get; init; }
}

/// <summary>What a retention run did in one repository.</summary>
internal sealed class RetentionResult
{
    public required string Repository { get; init; }

    public required RetentionEvaluation Evaluation { get; init; }

    /// <summary>Expired backups whose manifest (and artifact) were removed, oldest first.</summary>
    public List<BackupInfo> Removed { get; } = [];

    /// <summary>Incomplete leftovers removed (with -IncludeIncomplete).</summary>
    public List<RepositoryObject> RemovedIncomplete { get; } = [];

    /// <summary>Expired backups or leftovers not removed because the confirmation said no (-WhatIf, -Confirm).</summary>
    public int Declined { get; set; }

    /// <summary>Bytes of the removed artifacts and leftovers.</summary>
    public long BytesFreed { get; set; }

    /// <summary>Removals that failed; each is reported, the others still went ahead.</summary>
    public List<PgBackupException> Failures { get; } = [];

    /// <summary>One line for the information stream: count and bytes freed, always.</summary>
    public string Describe()
    {
        var text = string.Create(CultureInfo.InvariantCulture,
            $"Removed {Removed.Count} expired backup(s) from {Repository}, freeing {BytesFreed} bytes ({ByteSize.Format(BytesFreed)}); kept {Evaluation.Kept.Count()}.");
        if (RemovedIncomplete.Count > 0)
        {
            text += string.Create(CultureInfo.InvariantCulture, $" Removed {RemovedIncomplete.Count} incomplete leftover(s).");
        }

        if (Declined > 0)
        {
            text += string.Create(CultureInfo.InvariantCulture, $" {Declined} removal(s) not confirmed (-WhatIf or -Confirm) were skipped.");
        }

        if (Failures.Count > 0)
        {
            text += string.Create(CultureInfo.InvariantCulture, $" {Failures.Count} removal(s) failed.");
        }

        return text;
    }
}

/// <summary>
/// Applies a retention policy to a repository through <see cref="IBackupRepository"/> only, so it
/// behaves the same on every store. Touches nothing but backups with a manifest of ours (and, when
/// asked, day-old leftovers named in our layout).
/// </summary>
internal sealed class RetentionService(IOperationLog? log = null, TimeProvider? clock = null)
{
    private readonly IOperationLog _log = log ?? NullOperationLog.Instance;
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public async Task<RetentionResult> RunAsync(RetentionRequest request, ConfirmRemoval confirm, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(confirm);
        request.Policy.Validate();

        var repository = request.Repository;
        var nowUtc = _clock.GetUtcNow().UtcDateTime;
        var backups = request.Backups
            ?? await new BackupCatalog(repository, _log).ListAsync(new CatalogQuery { DatabasePatterns = request.DatabasePatterns }, cancellationToken).ConfigureAwait(false);

        if (request.Backups is not null)
        {
            // Listed backups were warned about by the catalog; piped ones are named here.
            foreach (var future in backups.Where(backup => BackupCatalog.IsFutureDated(backup.StartedAt, nowUtc)))
            {
                _log.Warning(BackupCatalog.FutureDatedWarning(future.ManifestLocation, future.StartedAt));
            }
        }

        var evaluation = RetentionEvaluator.Evaluate(backups, request.Policy, nowUtc, request.TimeZone);
        var result = new RetentionResult { Repository = repository.Location, Evaluation = evaluation };
        _log.Verbose($"Policy {request.Policy} in {request.TimeZone.Id}: {evaluation.Decisions.Count} backup(s), {evaluation.Expired.Count()} expired.");
        foreach (var kept in evaluation.Kept)
        {
            _log.Verbose($"Keeping {kept.Backup.Id}: {string.Join(", ", kept.Reasons)}.");
        }

        // How many manifests still name each artifact: a crafted (or copied) manifest may name another backup's.
        var namedBy = backups.Select(backup => backup.ArtifactKey).OfType<string>().GroupBy(key => key, StringComparer.Ordinal)
            .ToDictionary(group => group.Key, group => group.Count(), StringComparer.Ordinal);
        foreach (var expired in evaluation.Expired.Select(decision => decision.Backup).Reverse())
        {
            cancellationToken.ThrowIfCancellationRequested();
            await RemoveBackupAsync(repository, expired, request.Policy, confirm, namedBy, result, cancellationToken).ConfigureAwait(false);
        }

        if (request.IncludeIncomplete)
        {
            await RemoveIncompleteAsync(repository, backups, nowUtc, request.DatabasePatterns, confirm, result, cancellationToken).ConfigureAwait(false);
        }

        await RemoveEmptiedFoldersAsync(repository, result, cancellationToken).ConfigureAwait(false);
        return result;
    }

    /// <summary>
    /// Removes the YYYY/MM/DD folders (then MM, then YYYY) that this run's removals emptied. Only folders that held a
    /// removed object are tried, a parent only once its child went, and the store removes a folder only when it is
    /// empty: a folder already empty before, one holding anything else, the root and links are left alone.
    /// </summary>
    private async Task RemoveEmptiedFoldersAsync(IBackupRepository repository, RetentionResult result, CancellationToken cancellationToken)
    {
        var removedKeys = result.Removed.SelectMany(backup => new[] { backup.ManifestKey, backup.ArtifactKey })
            .Concat(result.RemovedIncomplete.Select(leftover => leftover.Key))
            .OfType<string>();
        var candidates = removedKeys.Select(ParentKey).Where(folder => folder.Length > 0).ToHashSet(StringComparer.Ordinal);
        // Deepest first, so a parent is tried only after all its emptied children were.
        while (candidates.Count > 0)
        {
            var depth = candidates.Max(Depth);
            var level = candidates.Where(folder => Depth(folder) == depth).Order(StringComparer.Ordinal).ToList();
            candidates.ExceptWith(level);
            foreach (var folder in level)
            {
                if (await repository.TryRemoveEmptyFolderAsync(folder, cancellationToken).ConfigureAwait(false))
                {
                    _log.Verbose($"Removed the emptied folder {repository.GetObjectLocation(folder)}.");
                    if (ParentKey(folder) is { Length: > 0 } parent)
                    {
                        candidates.Add(parent);
                    }
                }
            }
        }
    }

    private static int Depth(string key) => key.Count(c => c == '/');

    private static string ParentKey(string key)
    {
        var slash = key.LastIndexOf('/');
        return slash < 0 ? string.Empty : key[..slash];
    }

    private async Task RemoveBackupAsync(
        IBackupRepository repository,
        BackupInfo backup,
        RetentionPolicy policy,
        ConfirmRemoval confirm,
        Dictionary<string, int> namedBy,
        RetentionResult result,
        CancellationToken cancellationToken)
    {
        var target = string.Create(CultureInfo.InvariantCulture,
            $"{backup.Id} ({backup.Database}, {backup.Status}, started {backup.StartedAt:yyyy-MM-dd HH:mm:ss}Z, {ByteSize.Format(backup.SizeBytes)}) at {backup.ManifestLocation}");
        if (!await confirm(target, $"Remove expired backup (no rule of \"{policy}\" keeps it)", cancellationToken).ConfigureAwait(false))
        {
            result.Declined++;
            return;
        }

        try
        {
            // Piped objects may be stale: another run may have removed the backup already.
            if (!await repository.ExistsAsync(backup.ManifestKey, cancellationToken).ConfigureAwait(false))
            {
                _log.Warning($"{backup.ManifestLocation} is already gone; skipping {backup.Id}.");
                return;
            }

            // Manifest first: if we stop half-way, what is left is an artifact or a signature without a manifest
            // (incomplete leftovers, cleaned by -IncludeIncomplete), never a listed backup without its file.
            await repository.DeleteAsync(backup.ManifestKey, cancellationToken).ConfigureAwait(false);
            var artifactRemoved = false;
            if (backup.ArtifactKey is { } artifactKey)
            {
                // Not cancellable: the pair is removed together once the manifest is gone.
                artifactRemoved = await RemoveArtifactAsync(repository, backup, artifactKey, namedBy).ConfigureAwait(false);
            }

            await RemoveSignatureAsync(repository, backup).ConfigureAwait(false);
            result.Removed.Add(backup);
            result.BytesFreed += artifactRemoved ? backup.SizeBytes : 0;
            _log.Verbose($"Removed {backup.Id}.");
        }
        catch (PgBackupException ex)
        {
            result.Failures.Add(ex);
        }
    }

    /// <summary>
    /// Removes the signature (<c>&lt;manifest&gt;.sig</c>) of a backup whose manifest is gone, looked for in the store (a
    /// piped object may predate it). The backup is removed either way: a signature left behind only warns, and
    /// -IncludeIncomplete removes it once its manifest is gone for a day.
    /// </summary>
    private async Task RemoveSignatureAsync(IBackupRepository repository, BackupInfo backup)
    {
        var signatureKey = BackupNaming.SignatureKeyFor(backup.ManifestKey);
        try
        {
            // Not cancellable either: it goes with its manifest.
            if (await repository.ExistsAsync(signatureKey, CancellationToken.None).ConfigureAwait(false))
            {
                await repository.DeleteAsync(signatureKey, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (PgBackupException ex)
        {
            _log.Warning($"Removed {backup.Id}, but not its signature {repository.GetObjectLocation(signatureKey)}: {ex.Message} Remove-PgBackupExpired -IncludeIncomplete removes it later.");
        }
    }

    /// <summary>
    /// Removes an expired backup's artifact unless another manifest still names it: one listed and not removed, or
    /// the artifact's own manifest when the expired one is not it (checked in the store, as the listing may have
    /// left other databases' manifests unread). Returns whether it was removed.
    /// </summary>
    private async Task<bool> RemoveArtifactAsync(IBackupRepository repository, BackupInfo backup, string artifactKey, Dictionary<string, int> namedBy)
    {
        var othersNaming = namedBy.TryGetValue(artifactKey, out var count) ? count - 1 : 0;
        namedBy[artifactKey] = othersNaming;
        var ownManifest = BackupNaming.ManifestKeyFor(artifactKey);
        if (othersNaming > 0
            || (!string.Equals(ownManifest, backup.ManifestKey, StringComparison.Ordinal) && await repository.ExistsAsync(ownManifest, CancellationToken.None).ConfigureAwait(false)))
        {
            _log.Warning($"Kept {repository.GetObjectLocation(artifactKey)}: {backup.ManifestLocation} named it, but another manifest still does.");
            return false;
        }

        await repository.DeleteAsync(artifactKey, CancellationToken.None).ConfigureAwait(false);
        return true;
    }

    private async Task RemoveIncompleteAsync(
        IBackupRepository repository,
        IReadOnlyList<BackupInfo> backups,
        DateTime nowUtc,
        IReadOnlyList<string> databasePatterns,
        ConfirmRemoval confirm,
        RetentionResult result,
        CancellationToken cancellationToken)
    {
        var listing = new List<RepositoryObject>();
        await foreach (var item in repository.ListAsync(string.Empty, cancellationToken).ConfigureAwait(false))
        {
            listing.Add(item);
        }

        foreach (var leftover in IncompleteArtifacts.Find(listing, backups, nowUtc, databasePatterns))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var target = string.Create(CultureInfo.InvariantCulture,
                $"{repository.GetObjectLocation(leftover.Key)} ({ByteSize.Format(leftover.Size)}, last written {leftover.LastModifiedUtc:yyyy-MM-dd HH:mm:ss}Z)");
            if (!await confirm(target, "Remove incomplete backup (no manifest, older than 24 hours)", cancellationToken).ConfigureAwait(false))
            {
                result.Declined++;
                continue;
            }

            try
            {
                await repository.DeleteAsync(leftover.Key, cancellationToken).ConfigureAwait(false);
                result.RemovedIncomplete.Add(leftover);
                result.BytesFreed += leftover.Size;
            }
            catch (PgBackupException ex)
            {
                result.Failures.Add(ex);
            }
        }
    }
}
