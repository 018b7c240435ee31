using PgBackup.Errors;

namespace PgBackup.Storage.S3;

/// <summary>
/// Multipart part size for a stream whose length is only estimated: S3 allows at most 10,000
/// parts of 5 MiB to 5 GiB, and the size cannot change once the upload has started, so it is
/// chosen up front with head-room for a dump larger than the estimate. Pure: unit-tested.
/// </summary>
internal static class S3PartSizing
{
    public const int MaxParts = 10_000;
    public const long MiB = 1024 * 1024;

    /// <summary>S3's minimum for every part but the last.</summary>
    public const long MinimumPartSize = 5 * MiB;

    /// <summary>Parts are buffered in memory (one array each): keep one well under 2 GiB.</summary>
    public const long MaximumPartSize = 1024 * MiB;

    /// <summary>Floor of the computed size: fewer requests for small databases, still little memory.</summary>
    public const long DefaultMinimumPartSize = 8 * MiB;

    /// <summary>When no estimate exists: 64 MiB × 10,000 parts = 625 GiB.</summary>
    public const long UnknownSizePartSize = 64 * MiB;

    /// <summary>The dump may outgrow pg_database_size (plain format, bytea as hex): plan for twice the estimate.</summary>
    public const int EstimateHeadroom = 2;

    public static long Choose(long? expectedSizeBytes, long? overrideBytes)
    {
        if (overrideBytes is { } forced)
        {
            if (forced is < MinimumPartSize or > MaximumPartSize)
            {
                throw new InvalidRepositoryException($"The S3 part size must be between {MinimumPartSize / MiB} and {MaximumPartSize / MiB} MiB (got {forced} bytes).");
            }

            return forced;
        }

        if (expectedSizeBytes is not { } expected || expected <= 0)
        {
            return UnknownSizePartSize;
        }

        var needed = (long)Math.Ceiling((double)expected * EstimateHeadroom / MaxParts);
        var roundedToMiB = (needed + MiB - 1) / MiB * MiB;
        return Math.Clamp(roundedToMiB, DefaultMinimumPartSize, MaximumPartSize);
    }
}
