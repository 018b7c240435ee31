using System.Text.RegularExpressions;

namespace PgBackup.Catalog;

/// <summary>
/// Splits a full manifest, artifact or signature location (a file path, or a URI: s3://, az://, https://) into the repository
/// it belongs to and its repository-relative manifest key, using the YYYY/MM/DD layout.
/// </summary>
internal static partial class BackupAddress
{
    public static (string RepositoryLocation, string ManifestKey) Split(string location)
    {
        var separator = location.Contains("://", StringComparison.Ordinal) ? '/' : Path.DirectorySeparatorChar;
        var normalized = separator == '/' ? location : location.Replace('/', Path.DirectorySeparatorChar);
        var manifest = BackupNaming.ManifestKeyOf(normalized);

        var parts = manifest.Split(separator).ToList();
        var fileName = parts[^1];
        var folders = parts.Take(parts.Count - 1).ToList();
        var keyParts = new List<string> { fileName };
        if (folders.Count >= 3 && DatePart().IsMatch(string.Join('/', folders.TakeLast(3))))
        {
            keyParts.InsertRange(0, folders.TakeLast(3));
            folders.RemoveRange(folders.Count - 3, 3);
        }

        var root = string.Join(separator, folders);
        if (root.Length == 0 && separator != '/')
        {
            root = ".";
        }

        return (root, string.Join('/', keyParts));
    }

    [GeneratedRegex(@"^\d{4}/\d{2}/\d{2}$")]
    private static partial Regex DatePart();
}
