using PgBackup.Errors;

namespace PgBackup.Storage;

/// <summary>A store's limits on the parts (S3) or blocks (Azure) of one streamed upload, and PgBackup's defaults within them.</summary>
/// <param name="Store">"S3 part" or "Azure block": how errors name a part.</param>
/// <param name="MaxParts">The most parts one object may have.</param>
/// <param name="MinimumPartSize">The smallest part size a user may ask for.</param>
/// <param name="MaximumPartSize">The largest: parts are buffered in memory (one array each), so well under 2 GiB.</param>
/// <param name="DefaultMinimumPartSize">Floor of the computed size: fewer requests for small databases, still little memory.</param>
/// <param name="UnknownSizePartSize">The size when no estimate exists.</param>
internal sealed record PartSizeLimits(string Store, int MaxParts, long MinimumPartSize, long MaximumPartSize, long DefaultMinimumPartSize, long UnknownSizePartSize);

/// <summary>
/// Part size for a stream whose length is only estimated: a store allows a fixed number of parts,
/// and the size cannot change once the upload has started, so it is chosen up front with
/// head-room for a dump larger than the estimate. Pure: unit-tested.
/// </summary>
internal static class PartSizing
{
    public const long MiB = 1024 * 1024;

    /// <summary>The dump may outgrow pg_database_size (plain format, bytea as hex): plan for twice the estimate.</summary>
    public const int EstimateHeadroom = 2;

    public static long Choose(long? expectedSizeBytes, long? overrideBytes, PartSizeLimits limits)
    {
        if (overrideBytes is { } forced)
        {
            if (forced < limits.MinimumPartSize || forced > limits.MaximumPartSize)
            {
                throw new InvalidRepositoryException($"The {limits.Store} size must be between {limits.MinimumPartSize / MiB} and {limits.MaximumPartSize / MiB} MiB (got {forced} bytes).");
            }

            return forced;
        }

        if (expectedSizeBytes is not { } expected || expected <= 0)
        {
            return limits.UnknownSizePartSize;
        }

        var needed = (long)Math.Ceiling((double)expected * EstimateHeadroom / limits.MaxParts);
        var roundedToMiB = (needed + MiB - 1) / MiB * MiB;
        return Math.Clamp(roundedToMiB, limits.DefaultMinimumPartSize, limits.MaximumPartSize);
    }
}
