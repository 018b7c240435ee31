using Amazon;

namespace PgBackup.Storage.S3;

/// <summary>The AWS regions the SDK knows (it is updated with each AWS release), for -S3Region completion.</summary>
internal static class S3Regions
{
    /// <summary>Each region's system name (us-east-1) and display name (US East (N. Virginia)), sorted by system name.</summary>
    public static IReadOnlyList<(string Name, string DisplayName)> All { get; } =
        RegionEndpoint.EnumerableAllRegions
            .Select(region => (region.SystemName, region.DisplayName))
            .OrderBy(region => region.SystemName, StringComparer.Ordinal)
            .ToList();
}
