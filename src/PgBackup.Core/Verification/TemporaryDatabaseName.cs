using System.Security.Cryptography;
using System.Text;

namespace PgBackup.Verification;

/// <summary>
/// Names the throwaway database of a Restore-level test: <c>pgbackup_verify_&lt;db&gt;_&lt;8 hex&gt;</c>. The
/// source name is reduced to lower-case ASCII letters, digits and underscores and cut so the whole
/// name fits PostgreSQL's 63-byte limit: whatever the source database was called, the result is a
/// plain identifier that cannot collide with a live database's name pattern or be truncated by the server.
/// </summary>
internal static class TemporaryDatabaseName
{
    public const string Prefix = "pgbackup_verify_";

    /// <summary>The LIKE pattern matching every database a test may leave (for cleanup checks).</summary>
    public const string LikePattern = "pgbackup\\_verify\\_%";

    public const int MaxIdentifierBytes = Server.DatabaseAdmin.MaxIdentifierBytes;
    private const int SuffixLength = 8;

    public static string Create(string sourceDatabase) => Create(sourceDatabase, RandomSuffix());

    public static string Create(string sourceDatabase, string suffix)
    {
        var room = MaxIdentifierBytes - Prefix.Length - 1 - suffix.Length;
        var part = Sanitize(sourceDatabase);
        if (part.Length > room)
        {
            part = part[..room];
        }

        return $"{Prefix}{part}_{suffix}";
    }

    public static string Sanitize(string name)
    {
        var builder = new StringBuilder(name.Length);
        foreach (var c in name.ToLowerInvariant())
        {
            var keep = c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '_';
            // Runs of anything else become one underscore.
            if (keep)
            {
                builder.Append(c);
            }
            else if (builder.Length == 0 || builder[^1] != '_')
            {
                builder.Append('_');
            }
        }

        var result = builder.ToString().Trim('_');
        return result.Length == 0 ? "db" : result;
    }

    private static string RandomSuffix() => Convert.ToHexString(RandomNumberGenerator.GetBytes(SuffixLength / 2)).ToLowerInvariant();
}
