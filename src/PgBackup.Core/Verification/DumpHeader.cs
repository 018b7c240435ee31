using System.Text;

namespace PgBackup.Verification;

/// <summary>
/// Recognises the first bytes of what pg_dump wrote: a custom archive starts with <c>PGDMP</c>; a tar
/// archive with a valid ustar header for <c>toc.dat</c>, whose content is again a <c>PGDMP</c> TOC; a plain
/// dump with pg_dump's <c>-- PostgreSQL database dump</c> banner. Pure, so each case is unit-tested.
/// </summary>
internal static class DumpHeader
{
    /// <summary>How many leading bytes the check needs (a tar header block plus the start of toc.dat).</summary>
    public const int Length = 1024;

    public const string CheckName = "Format header";

    private const int TarBlock = 512;
    private static readonly byte[] ArchiveMagic = "PGDMP"u8.ToArray();
    private const string PlainBanner = "-- PostgreSQL database dump";

    public static TestCheck Check(BackupFormat format, ReadOnlySpan<byte> head) => format switch
    {
        BackupFormat.Custom => CheckCustom(head),
        BackupFormat.Tar or BackupFormat.Directory => CheckTar(head),
        BackupFormat.Plain => CheckPlain(head),
        _ => new TestCheck(CheckName, false, $"The {format} format cannot be checked from a stream."),
    };

    private static TestCheck CheckCustom(ReadOnlySpan<byte> head)
    {
        if (!head.StartsWith(ArchiveMagic))
        {
            return new TestCheck(CheckName, false, $"expected a custom archive starting with PGDMP, found {Describe(head)}");
        }

        return new TestCheck(CheckName, true, "PGDMP custom archive" + ArchiveVersion(head));
    }

    private static TestCheck CheckTar(ReadOnlySpan<byte> head)
    {
        if (head.Length < TarBlock || !head[257..262].SequenceEqual("ustar"u8))
        {
            return new TestCheck(CheckName, false, $"expected a tar archive (ustar header), found {Describe(head)}");
        }

        var stored = ParseOctal(head[148..156]);
        var actual = TarHeaderChecksum(head[..TarBlock]);
        if (stored != actual)
        {
            return new TestCheck(CheckName, false, $"the tar header checksum is {actual}, the header says {stored?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "nothing readable"}");
        }

        if (!head[..100].TrimEnd((byte)0).SequenceEqual("toc.dat"u8))
        {
            return new TestCheck(CheckName, false, "expected the tar archive to start with pg_dump's toc.dat, found a member with another name");
        }

        var toc = head[TarBlock..];
        if (!toc.StartsWith(ArchiveMagic))
        {
            return new TestCheck(CheckName, false, $"expected toc.dat to start with PGDMP, found {Describe(toc)}");
        }

        return new TestCheck(CheckName, true, "tar archive, toc.dat is a PGDMP table of contents" + ArchiveVersion(toc));
    }

    private static TestCheck CheckPlain(ReadOnlySpan<byte> head)
    {
        var text = Encoding.UTF8.GetString(head);
        var banner = text.IndexOf(PlainBanner, StringComparison.Ordinal);
        if (!text.StartsWith("--", StringComparison.Ordinal) || banner < 0)
        {
            return new TestCheck(CheckName, false, $"expected a plain SQL dump starting with \"{PlainBanner}\", found {Describe(head)}");
        }

        return new TestCheck(CheckName, true, "plain SQL dump (pg_dump banner)");
    }

    private static string ArchiveVersion(ReadOnlySpan<byte> archive)
        => archive.Length >= 8 ? $", archive version {archive[5]}.{archive[6]}.{archive[7]}" : string.Empty;

    private static int TarHeaderChecksum(ReadOnlySpan<byte> header)
    {
        var sum = 0;
        for (var i = 0; i < header.Length; i++)
        {
            // The checksum field itself counts as eight spaces.
            sum += i is >= 148 and < 156 ? (byte)' ' : header[i];
        }

        return sum;
    }

    private static int? ParseOctal(ReadOnlySpan<byte> field)
    {
        var text = Encoding.ASCII.GetString(field).Trim('\0', ' ');
        if (text.Length == 0 || text.Any(c => c is < '0' or > '7'))
        {
            return null;
        }

        return Convert.ToInt32(text, 8);
    }

    /// <summary>
    /// What kind of file this seems to be, for a mismatch message — never its bytes: the artifact may be
    /// anything (a symlink to a secret, say), and error messages end up in logs.
    /// </summary>
    private static string Describe(ReadOnlySpan<byte> head)
    {
        if (head.IsEmpty)
        {
            return "an empty file";
        }

        var kind = head switch
        {
            _ when head.StartsWith(ArchiveMagic) => "a custom archive (PGDMP)",
            _ when head.StartsWith(new byte[] { 0x1f, 0x8b }) => "gzip data",
            _ when head.StartsWith(new byte[] { 0x28, 0xb5, 0x2f, 0xfd }) => "zstd data",
            _ when head.StartsWith(new byte[] { 0x04, 0x22, 0x4d, 0x18 }) => "lz4 data",
            _ when head.Length >= TarBlock && head[257..262].SequenceEqual("ustar"u8) => "a tar archive",
            _ when IsText(head) => "text",
            _ => "binary data",
        };
        return $"{kind} ({head.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)} bytes read; content not shown)";
    }

    private static bool IsText(ReadOnlySpan<byte> head)
    {
        foreach (var b in head.TrimEnd((byte)0))
        {
            if (b is not (>= 0x20 and < 0x7f or (byte)'\n' or (byte)'\r' or (byte)'\t' or >= 0x80))
            {
                return false;
            }
        }

        return true;
    }
}
