using System.Globalization;

namespace PgBackup.Diagnostics;

/// <summary>Human-readable sizes (binary units), the same way the format views show them.</summary>
internal static class ByteSize
{
    public static string Format(long bytes)
        => bytes switch
        {
            >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):N1} GiB"),
            >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):N1} MiB"),
            >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:N1} KiB"),
            _ => string.Create(CultureInfo.InvariantCulture, $"{bytes} B"),
        };
}
