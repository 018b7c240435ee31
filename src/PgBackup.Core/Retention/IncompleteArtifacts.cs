using System.Text.RegularExpressions;
using PgBackup.Catalog;
using PgBackup.Storage;

namespace PgBackup.Retention;

/// <summary>
/// Finds the leftovers of backups that never committed: objects named like ours (the repository
/// layout) that no manifest vouches for — <c>.partial</c> files, temporary manifest files, artifacts
/// whose manifest never landed, signatures (<c>.manifest.json.sig</c>) whose manifest is gone. Pure: works on a listing, so it is the same for every store.
/// </summary>
internal static partial class IncompleteArtifacts
{
    /// <summary>A backup older than this cannot still be in progress; younger ones may be, by another process.</summary>
    public static readonly TimeSpan MinimumAge = TimeSpan.FromHours(24);

    /// <summary>
    /// The objects of <paramref name="listing"/> that are incomplete backups last modified more than
    /// <see cref="MinimumAge"/> before <paramref name="nowUtc"/>. Anything not named in our layout
    /// is never returned: the repository may hold files that are not ours.
    /// </summary>
    /// <param name="databasePatterns">Wildcards on the database name (decoded from the object name); empty means every database.</param>
    public static IReadOnlyList<RepositoryObject> Find(IEnumerable<RepositoryObject> listing, IEnumerable<BackupInfo> backups, DateTime nowUtc, IReadOnlyList<string>? databasePatterns = null)
    {
        var matchers = (databasePatterns ?? []).Select(WildcardMatcher.Create).ToArray();
        var objects = listing.ToList();
        var manifests = objects.Select(item => item.Key).Where(BackupNaming.IsManifestKey).ToHashSet(StringComparer.Ordinal);
        var vouchedFor = backups.Select(backup => backup.ArtifactKey).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var cutoff = nowUtc - MinimumAge;
        return objects
            .Where(item => LayoutName().Match(item.Key) is { Success: true } name
                && (matchers.Length == 0 || matchers.Any(matches => matches(BackupNaming.DatabaseOfKeyName(name.Groups["database"].Value)))))
            .Where(item => !BackupNaming.IsManifestKey(item.Key))
            // Its own manifest (even a Failed or unreadable one) means it is not ours to judge here; a signature
            // belongs to the manifest it is named after, and is a leftover only once that manifest is gone.
            .Where(item => !manifests.Contains(BackupNaming.ManifestKeyOf(item.Key)) && !vouchedFor.Contains(item.Key))
            .Where(item => item.LastModifiedUtc < cutoff)
            .OrderBy(item => item.Key, StringComparer.Ordinal)
            .ToList();
    }

    // YYYY/MM/DD/<encoded database>_<yyyyMMddTHHmmssZ>_<4 hex><extension, .partial, .manifest.json.tmp-…, .manifest.json.sig>
    // The database part is BackupNaming.EncodeDatabaseName's output: %XX escapes of UTF-8 bytes.
    [GeneratedRegex(@"^\d{4}/\d{2}/\d{2}/(?<database>[^/]+)_\d{8}T\d{6}Z_[0-9a-f]{4}\.[^/]+$", RegexOptions.CultureInvariant)]
    private static partial Regex LayoutName();
}
