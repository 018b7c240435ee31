using System.Globalization;
using System.Text;

namespace PgBackup.Restore;

/// <summary>
/// Names of the databases a replace creates next to the target: the staging database the backup is
/// restored into, and the name the replaced database keeps afterwards. PostgreSQL silently
/// truncates identifiers longer than 63 bytes, which could make two of our names collide, so the
/// target part is shortened (on a character boundary, never inside a UTF-8 sequence) until the
/// whole name fits; the suffix that makes it ours always survives.
/// </summary>
internal static class RestoreNaming
{
    public const int MaxIdentifierBytes = Server.DatabaseAdmin.MaxIdentifierBytes;

    public const string StagingMarker = "_restoring_";

    public const string PreviousMarker = "_pre_restore_";

    /// <summary><c>&lt;target&gt;_restoring_&lt;hex&gt;</c>, at most 63 bytes.</summary>
    public static string StagingName(string target, string randomHex) => WithSuffix(target, StagingMarker + randomHex);

    /// <summary>
    /// <c>&lt;target&gt;_pre_restore_&lt;yyyyMMddHHmmss&gt;</c> (plus <c>_&lt;n&gt;</c> for the n-th try when
    /// that name is taken, e.g. two restores within one second), at most 63 bytes.
    /// </summary>
    public static string PreviousName(string target, DateTime swappedAtUtc, int attempt = 1)
    {
        var suffix = PreviousMarker + swappedAtUtc.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture);
        if (attempt > 1)
        {
            suffix += "_" + attempt.ToString(CultureInfo.InvariantCulture);
        }

        return WithSuffix(target, suffix);
    }

    /// <summary>Checks a database name PostgreSQL will keep exactly as given; returns why not, or null.</summary>
    public static string? ProblemWithDatabaseName(string name)
    {
        if (name.Length == 0)
        {
            return "The database name is empty.";
        }

        if (name.Contains('\0', StringComparison.Ordinal))
        {
            return "A database name cannot contain a NUL character.";
        }

        var bytes = Encoding.UTF8.GetByteCount(name);
        return bytes > MaxIdentifierBytes
            ? $"The database name \"{name}\" is {bytes} bytes long; PostgreSQL keeps at most {MaxIdentifierBytes} and would silently shorten it."
            : null;
    }

    /// <summary><paramref name="baseName"/> shortened as needed so that base + suffix is at most 63 UTF-8 bytes.</summary>
    public static string WithSuffix(string baseName, string suffix)
    {
        var budget = MaxIdentifierBytes - Encoding.UTF8.GetByteCount(suffix);
        if (budget < 0)
        {
            throw new ArgumentException($"The suffix \"{suffix}\" alone is longer than {MaxIdentifierBytes} bytes.", nameof(suffix));
        }

        var kept = new StringBuilder();
        var used = 0;
        // Whole runes only: a cut inside a surrogate pair or UTF-8 sequence would make an invalid name.
        foreach (var rune in baseName.EnumerateRunes())
        {
            var size = rune.Utf8SequenceLength;
            if (used + size > budget)
            {
                break;
            }

            kept.Append(rune.ToString());
            used += size;
        }

        return kept + suffix;
    }
}
