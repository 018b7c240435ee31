namespace PgBackup.Storage.Azure;

/// <summary>
/// Azure's block blob limits for <see cref="PartSizing"/>: at most 50,000 committed blocks of up to
/// 4,000 MiB each (PgBackup buffers a block in memory, so it stops at 1,024 MiB). Blocks have no minimum
/// size; below 1 MiB the per-request overhead dominates.
/// </summary>
internal static class AzureBlockSizing
{
    public const int MaxBlocks = 50_000;
    public const long MiB = PartSizing.MiB;
    public const long MinimumBlockSize = 1 * MiB;
    public const long MaximumBlockSize = 1024 * MiB;

    /// <summary>Floor of the computed size: 4 MiB × 50,000 blocks = 195 GiB before the size has to grow.</summary>
    public const long DefaultMinimumBlockSize = 4 * MiB;

    /// <summary>When no estimate exists: 16 MiB × 50,000 blocks = 781 GiB.</summary>
    public const long UnknownSizeBlockSize = 16 * MiB;

    public static readonly PartSizeLimits Limits = new("Azure block", MaxBlocks, MinimumBlockSize, MaximumBlockSize, DefaultMinimumBlockSize, UnknownSizeBlockSize);

    public static long Choose(long? expectedSizeBytes, long? overrideBytes) => PartSizing.Choose(expectedSizeBytes, overrideBytes, Limits);
}
