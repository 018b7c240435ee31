using PgBackup.Errors;

namespace PgBackup.Storage.S3;

/// <summary>
/// The storage classes S3 knows, in one place: New-PgBackup checks -StorageClass against them before pg_dump starts
/// (a typo would otherwise surface only as S3's refusal of the upload, after the dump ran), and the argument
/// completer offers them.
/// </summary>
internal static class S3StorageClasses
{
    public static readonly IReadOnlyList<string> Known =
    [
        "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER", "DEEP_ARCHIVE",
        "GLACIER_IR", "OUTPOSTS", "SNOW", "EXPRESS_ONEZONE",
    ];

    /// <summary>The class as S3 spells it (any casing accepted); InvalidStorageClass for one S3 does not know.</summary>
    public static string Normalize(string storageClass)
        => Known.FirstOrDefault(known => string.Equals(known, storageClass?.Trim(), StringComparison.OrdinalIgnoreCase))
            ?? throw new InvalidStorageClassException(
                $"\"{storageClass}\" is not an S3 storage class; use one of {string.Join(", ", Known)}.", storageClass);
}
