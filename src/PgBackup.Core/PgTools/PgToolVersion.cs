using System.Globalization;
using System.Text.RegularExpressions;

namespace PgBackup.PgTools;

/// <summary>A PostgreSQL version as tools print it ("pg_dump (PostgreSQL) 15.18 (Debian …)").</summary>
internal sealed partial record PgToolVersion(int Major, int Minor, string Text)
{
    public static PgToolVersion? TryParse(string? versionOutput)
    {
        if (string.IsNullOrWhiteSpace(versionOutput))
        {
            return null;
        }

        var match = VersionPattern().Match(versionOutput);
        if (!match.Success)
        {
            return null;
        }

        var major = int.Parse(match.Groups["major"].Value, CultureInfo.InvariantCulture);
        var minor = match.Groups["minor"].Success ? int.Parse(match.Groups["minor"].Value, CultureInfo.InvariantCulture) : 0;
        // Before PostgreSQL 10 the major version had two parts (9.6).
        if (major < 10 && match.Groups["minor"].Success)
        {
            return new PgToolVersion(major * 10 + minor, 0, match.Groups["text"].Value);
        }

        return new PgToolVersion(major, minor, match.Groups["text"].Value);
    }

    /// <summary>Reads <c>server_version_num</c> (e.g. 150018) as the server reports it.</summary>
    public static PgToolVersion FromServerVersionNumber(int versionNumber, string text)
    {
        return versionNumber >= 100000
            ? new PgToolVersion(versionNumber / 10000, versionNumber % 10000, text)
            : new PgToolVersion(versionNumber / 100, versionNumber % 100, text);
    }

    public override string ToString() => Text;

    [GeneratedRegex(@"\(PostgreSQL\)\s+(?<text>(?<major>\d+)(?:\.(?<minor>\d+))?[^\s]*)")]
    private static partial Regex VersionPattern();
}
