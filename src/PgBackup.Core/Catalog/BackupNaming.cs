using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace PgBackup.Catalog;

/// <summary>
/// The repository layout, in one place:
/// <c>YYYY/MM/DD/&lt;database&gt;_&lt;yyyyMMddTHHmmssZ&gt;_&lt;4 hex&gt;.&lt;ext&gt;</c> plus
/// <c>&lt;same name&gt;.manifest.json</c>. Database names are file-name-encoded (see
/// <see cref="EncodeDatabaseName"/>); the manifest always holds the real name.
/// </summary>
internal static partial class BackupNaming
{
    public const string ManifestSuffix = ".manifest.json";

    /// <summary>A manifest's detached OpenPGP signature is stored next to it as <c>&lt;manifest&gt;.sig</c>.</summary>
    public const string SignatureSuffix = ".sig";
    public const string TimestampFormat = "yyyyMMdd'T'HHmmss'Z'";

    /// <summary>
    /// How many names a backup draws before giving up: names are created exclusively, and a taken one (two runs of
    /// a database in the same second drawing the same 16-bit suffix) is drawn again, never overwritten.
    /// </summary>
    public const int NameAttempts = 8;

    /// <summary>The <see cref="BackupInfo.Database"/> of every <see cref="BackupKind.Globals"/> backup: what lists and summaries show.</summary>
    public const string GlobalsDatabaseName = "(globals)";

    /// <summary>
    /// The name part of a globals backup's key. <see cref="EncodeDatabaseName"/> escapes '~', so no database's
    /// backups can ever be named like this: a database called "(globals)" or "~globals" keeps its own series.
    /// </summary>
    public const string GlobalsKeyName = "~globals";

    public static string CreateId(string database, DateTime startedAtUtc, string? randomHex = null, BackupKind kind = BackupKind.Database)
    {
        randomHex ??= Convert.ToHexString(RandomNumberGenerator.GetBytes(2)).ToLowerInvariant();
        var name = kind == BackupKind.Globals ? GlobalsKeyName : EncodeDatabaseName(database);
        return $"{name}_{startedAtUtc.ToUniversalTime().ToString(TimestampFormat, CultureInfo.InvariantCulture)}_{randomHex}";
    }

    /// <summary>The artifact's key: date folders from the start time, then id and extension.</summary>
    public static string ArtifactKey(string id, DateTime startedAtUtc, string extension)
    {
        var utc = startedAtUtc.ToUniversalTime();
        return string.Create(CultureInfo.InvariantCulture, $"{utc:yyyy}/{utc:MM}/{utc:dd}/{id}{extension}");
    }

    public static string ManifestKeyFor(string artifactKey) => artifactKey + ManifestSuffix;

    /// <summary>
    /// The database (kind included) and start time (to the second) a key's file name was made from, so a listing can be
    /// filtered before any manifest is fetched. False for names outside the layout; the manifest stays the authority.
    /// </summary>
    public static bool TryParseKey(string key, out (string Database, DateTime StartedAtUtc, BackupKind Kind) parsed)
    {
        parsed = default;
        var match = KeyName().Match(key);
        if (!match.Success
            || !DateTime.TryParseExact(match.Groups["time"].Value, TimestampFormat, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var started))
        {
            return false;
        }

        var encoded = match.Groups["database"].Value;
        if (string.Equals(encoded, GlobalsKeyName, StringComparison.Ordinal))
        {
            parsed = (GlobalsDatabaseName, DateTime.SpecifyKind(started, DateTimeKind.Utc), BackupKind.Globals);
            return true;
        }

        string database;
        try
        {
            database = Uri.UnescapeDataString(encoded);
        }
        catch (UriFormatException)
        {
            return false;
        }

        // Only a name this layout could have written (the encoding is one-to-one): anything else is read to be judged.
        if (!string.Equals(EncodeDatabaseName(database), encoded, StringComparison.Ordinal))
        {
            return false;
        }

        parsed = (database, DateTime.SpecifyKind(started, DateTimeKind.Utc), BackupKind.Database);
        return true;
    }

    /// <summary>The database a key's name part stands for, as lists show it: "(globals)" for a globals backup.</summary>
    public static string DatabaseOfKeyName(string keyName)
        => string.Equals(keyName, GlobalsKeyName, StringComparison.Ordinal) ? GlobalsDatabaseName : Uri.UnescapeDataString(keyName);

    /// <summary>The backup Id a key's file name was made from (database, start second, random suffix); false outside the layout.</summary>
    public static bool TryGetId(string key, out string id)
    {
        var match = KeyName().Match(key);
        id = match.Success ? match.Groups["id"].Value : string.Empty;
        return match.Success;
    }

    public static bool IsManifestKey(string key) => key.EndsWith(ManifestSuffix, StringComparison.Ordinal);

    /// <summary>The key (or path) of a manifest's signature.</summary>
    public static string SignatureKeyFor(string manifestKey) => manifestKey + SignatureSuffix;

    /// <summary>Whether a key (or path) is a manifest's signature (<c>….manifest.json.sig</c>): never an artifact, never a manifest.</summary>
    public static bool IsSignatureKey(string key) => key.EndsWith(ManifestSuffix + SignatureSuffix, StringComparison.Ordinal);

    /// <summary>The manifest a key (or path) belongs to: a manifest itself, a signature's manifest, else an artifact's.</summary>
    public static string ManifestKeyOf(string key)
        => IsManifestKey(key) ? key : IsSignatureKey(key) ? key[..^SignatureSuffix.Length] : ManifestKeyFor(key);

    /// <summary>
    /// The artifact's file extension for a format, the stream compression stage (if any) and OpenPGP encryption
    /// (<c>.gpg</c> last, as gpg names what it encrypts: <c>gpg --decrypt</c> gives the file without it).
    /// </summary>
    public static string Extension(BackupFormat format, BackupCompression streamCompression, bool encrypted = false)
    {
        var baseExtension = format switch
        {
            BackupFormat.Custom => ".dump",
            BackupFormat.Plain => ".sql",
            BackupFormat.Tar => ".tar",
            BackupFormat.Directory => ".dir.tar",
            _ => ".dump",
        };
        return baseExtension + (Streaming.CompressionStages.FileExtension(streamCompression) ?? string.Empty)
            + (encrypted ? Encryption.OpenPgpEncryption.FileExtension : string.Empty);
    }

    /// <summary>
    /// Makes a database name safe as a file name and S3 key on every platform: letters, digits,
    /// '-', '.' and '_' stay (non-ASCII letters too); anything else becomes %XX of its UTF-8 bytes.
    /// </summary>
    public static string EncodeDatabaseName(string database)
    {
        var builder = new StringBuilder(database.Length);
        var index = 0;
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in database.EnumerateRunes())
        {
            var keep = Rune.IsLetterOrDigit(rune) || (rune.IsAscii && (rune.Value is '-' or '_' || (rune.Value == '.' && index > 0)));
            if (keep)
            {
                builder.Append(rune.ToString());
            }
            else
            {
                var length = rune.EncodeToUtf8(utf8);
                foreach (var b in utf8[..length])
                {
                    builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
                }
            }

            index++;
        }

        return builder.Length == 0 ? "%00" : builder.ToString();
    }

    // <encoded database>_<yyyyMMddTHHmmssZ>_<4 hex>.<extension…>, the last segment of a key.
    [GeneratedRegex(@"(?:^|/)(?<id>(?<database>[^/]+)_(?<time>\d{8}T\d{6}Z)_[0-9a-f]{4})\.[^/]+$", RegexOptions.CultureInvariant)]
    private static partial Regex KeyName();
}
