namespace PgBackup.Storage.S3;

/// <summary>
/// S3's multipart limits for <see cref="PartSizing"/>: at most 10,000 parts of 5 MiB to 5 GiB.
/// </summary>
internal static class S3PartSizing
{
    public const int MaxParts = 10_000;
    public const long MiB = PartSizing.MiB;

    /// <summary>S3's minimum for every part but the last.</summary>
    public const long MinimumPartSize = 5 * MiB;

    /// <summary>Parts are buffered in memory (one array each): keep one well under 2 GiB.</summary>
    public const long MaximumPartSize = 1024 * MiB;

    /// <summary>Floor of the computed size: fewer requests for small databases, still little memory.</summary>
    public const long DefaultMinimumPartSize = 8 * MiB;

    /// <summary>When no estimate exists: 64 MiB × 10,000 parts = 625 GiB.</summary>
    public const long UnknownSizePartSize = 64 * MiB;

    public static readonly PartSizeLimits Limits = new("S3 part", MaxParts, MinimumPartSize, MaximumPartSize, DefaultMinimumPartSize, UnknownSizePartSize);

    public static long Choose(long? expectedSizeBytes, long? overrideBytes) => PartSizing.Choose(expectedSizeBytes, overrideBytes, Limits);
}
