using PgBackup.Errors;

namespace PgBackup.Storage.S3;

/// <summary>
/// The storage classes S3 knows, in one place: New-PgBackup checks -StorageClass against them before pg_dump starts
/// (a typo would otherwise surface only as S3's refusal of the upload, after the dump ran), and the argument
/// completer offers them. Names are as S3 spells them in the x-amz-storage-class header.
/// </summary>
internal static class S3StorageClasses
{
    /// <summary>Each storage class with a short description of when it fits a backup.</summary>
    public static IReadOnlyList<(string Name, string Description)> All { get; } =
    [
        ("STANDARD", "Frequent access; no minimum storage duration or retrieval fee."),
        ("STANDARD_IA", "Infrequent access (PgBackup's default): cheaper storage, a retrieval fee, 30-day minimum."),
        ("ONEZONE_IA", "Infrequent access in one availability zone: cheaper still, less resilient, 30-day minimum."),
        ("INTELLIGENT_TIERING", "S3 moves objects between access tiers by use; a small monitoring fee per object."),
        ("GLACIER_IR", "Glacier Instant Retrieval: archive prices, read in milliseconds, 90-day minimum."),
        ("GLACIER", "Glacier Flexible Retrieval: must be restored (minutes to hours) before a test or restore."),
        ("DEEP_ARCHIVE", "Glacier Deep Archive: cheapest, must be restored (up to 48 hours) before a test or restore."),
        ("REDUCED_REDUNDANCY", "Deprecated by AWS: less durable, and no longer cheaper than STANDARD."),
        ("EXPRESS_ONEZONE", "S3 Express One Zone directory buckets only."),
        ("OUTPOSTS", "S3 on Outposts buckets only."),
        ("SNOW", "AWS Snow Family devices only."),
    ];

    public static IReadOnlyList<string> Known { get; } = All.Select(storageClass => storageClass.Name).ToArray();

    /// <summary>True for a storage class S3 knows (case-sensitive, as S3 requires).</summary>
    public static bool IsKnown(string name) => Known.Contains(name, StringComparer.Ordinal);

    /// <summary>The class as S3 spells it (any casing accepted); InvalidStorageClass for one S3 does not know.</summary>
    public static string Normalize(string storageClass)
        => Known.FirstOrDefault(known => string.Equals(known, storageClass?.Trim(), StringComparison.OrdinalIgnoreCase))
            ?? throw new InvalidStorageClassException(
                $"\"{storageClass}\" is not an S3 storage class; use one of {string.Join(", ", Known)}.", storageClass);
}
