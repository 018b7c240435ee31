using System.Globalization;
using PgBackup.Artifacts;
using PgBackup.PgTools;
using PgBackup.Server;

namespace PgBackup.Verification;

/// <summary>What one read of the stored bytes observed, for turning into checks.</summary>
/// <param name="BytesRead">Stored bytes read (stops early when the file is larger than the manifest says).</param>
/// <param name="ActualSha256">SHA-256 of the stored bytes; null when the read could not reach the end.</param>
/// <param name="DecodeFailure">Why PgBackup's compression stage did not decode, if it did not.</param>
/// <param name="BytesAfterCompressedEnd">Stored bytes left over after the compressed data ended.</param>
internal sealed record StoredReadOutcome(long BytesRead, string? ActualSha256, string? DecodeFailure, long BytesAfterCompressedEnd)
{
    /// <summary>Whether the read decrypted an encrypted backup (false when read without a key, or not encrypted).</summary>
    public bool Decrypted { get; init; }

    /// <summary>Why the decryption failed on the way (integrity code mismatch, broken message), if it did.</summary>
    public string? DecryptionFailure { get; init; }
}

/// <summary>
/// Turns observations into named checks with a Detail that names the mismatch. Pure: the verifier
/// observes, this decides, and unit tests cover every branch.
/// </summary>
internal static class VerificationChecks
{
    public const string Signature = "Signature";
    public const string Size = "Size";
    public const string Sha256 = "SHA-256";
    public const string Decompression = "Decompression";
    public const string Decryption = "Decryption";
    public const string TableOfContents = "Table of contents";
    public const string TablesMatchManifest = "Tables match manifest";
    public const string Restore = "Restore";
    public const string TablesRestored = "Tables restored";
    public const string RowCounts = "Row counts";
    public const string PsqlCommands = "psql commands";
    public const string GlobalsStatements = "Globals statements";
    public const string GlobalsApplied = "Globals applied (rolled back)";

    private const int MaxNamesInDetail = 10;

    /// <summary>Size, SHA-256 and (when PgBackup compressed the stream) decompression.</summary>
    public static IEnumerable<TestCheck> Checksum(BackupInfo backup, StoredReadOutcome read)
    {
        var sizeOk = read.ActualSha256 is not null && read.BytesRead == backup.SizeBytes;
        yield return read.ActualSha256 is null
            ? new TestCheck(Size, false, $"expected {Bytes(backup.SizeBytes)} (manifest), the file holds more")
            : new TestCheck(Size, sizeOk, sizeOk
                ? $"{Bytes(read.BytesRead)}, as the manifest says"
                : $"expected {Bytes(backup.SizeBytes)} (manifest), actual {Bytes(read.BytesRead)}" + (read.BytesRead < backup.SizeBytes ? " (truncated)" : string.Empty));

        var expected = backup.Sha256?.ToLowerInvariant();
        var shaOk = expected is not null && read.ActualSha256 == expected;
        yield return new TestCheck(Sha256, shaOk, (expected, read.ActualSha256) switch
        {
            (null, _) => "the manifest records no SHA-256 to compare with",
            (_, null) => $"expected sha256 {expected} (manifest), not computed: the file is larger than the manifest says",
            _ when shaOk => $"sha256 {expected} matches the manifest",
            _ => $"expected sha256 {expected} (manifest), actual sha256 {read.ActualSha256}",
        });

        if (read.DecryptionFailure is not null)
        {
            yield return new TestCheck(Decryption, false, read.DecryptionFailure);
        }
        else if (read.Decrypted && sizeOk && shaOk)
        {
            yield return new TestCheck(Decryption, true, "the OpenPGP message decrypts and its integrity code (MDC) matches");
        }

        // Without a key an encrypted backup's frames cannot be read: its check is the hash of the ciphertext.
        if (backup.CompressionStage != CompressionStage.Stream || (backup.Encrypted && !read.Decrypted))
        {
            yield break;
        }

        var method = backup.Compression.ToString().ToLowerInvariant();
        if (read.DecodeFailure is not null)
        {
            yield return new TestCheck(Decompression, false, $"the {method} stream does not decode: {read.DecodeFailure}");
        }
        else if (read.BytesAfterCompressedEnd > 0)
        {
            yield return new TestCheck(Decompression, false, $"{Bytes(read.BytesAfterCompressedEnd)} follow the end of the {method} data");
        }
        else if (sizeOk && shaOk)
        {
            // With bad stored bytes a clean decode proves nothing (a cut gzip stream can end "cleanly").
            yield return new TestCheck(Decompression, true, $"the {method} stream decodes to its end");
        }
    }

    /// <summary>pg_restore --list succeeded and printed a table of contents.</summary>
    public static TestCheck ArchiveList(PgRunOutcome? listing, string? readFailure)
    {
        if (listing is null)
        {
            return new TestCheck(TableOfContents, false, $"pg_restore --list was stopped: {readFailure ?? "the archive could not be read"}");
        }

        if (!listing.Succeeded)
        {
            return new TestCheck(TableOfContents, false, $"pg_restore --list failed (exit code {listing.ExitCode}): {FirstLines(listing.StandardError)}");
        }

        var entries = ArchiveToc.Parse(listing.StandardOutput);
        if (entries.Count == 0)
        {
            // A database without objects (the "postgres" database of -AllDatabases, often) has an archive with only
            // pg_restore's header: a good backup of an empty database, not a broken one.
            return listing.StandardOutput.Contains("; Archive created at ", StringComparison.Ordinal)
                && listing.StandardOutput.Contains("; Selected TOC Entries:", StringComparison.Ordinal)
                ? new TestCheck(TableOfContents, true, "pg_restore --list: no objects (an empty database)")
                : new TestCheck(TableOfContents, false, "pg_restore --list printed no entries");
        }

        return new TestCheck(TableOfContents, true, $"pg_restore --list: {entries.Count} entries, {DumpedTables.FromToc(entries).Count} tables");
    }

    /// <summary>A plain dump's table of contents is its comments; its footer proves it is whole.</summary>
    public static TestCheck PlainContents(PlainDumpScanner scanner)
        => scanner.SawCompleteFooter
            ? new TestCheck(TableOfContents, true, $"plain dump is complete, {scanner.Tables.Count} tables")
            : new TestCheck(TableOfContents, false, "the plain dump ends without pg_dump's \"PostgreSQL database dump complete\" line (truncated or not a dump)");

    /// <summary>The archive holds exactly the tables the manifest counted rows for.</summary>
    public static TestCheck TablesAgainstManifest(IReadOnlyCollection<TableName> tocTables, IReadOnlyDictionary<string, long> rowCounts)
    {
        var inArchive = tocTables.Select(t => t.Key).ToHashSet(StringComparer.Ordinal);
        var notInManifest = inArchive.Where(k => !rowCounts.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        var notInArchive = rowCounts.Keys.Where(k => !inArchive.Contains(k)).Order(StringComparer.Ordinal).ToList();
        if (notInManifest.Count == 0 && notInArchive.Count == 0)
        {
            return new TestCheck(TablesMatchManifest, true, $"the archive's {inArchive.Count} tables are the manifest's");
        }

        var parts = new List<string>();
        if (notInArchive.Count > 0)
        {
            parts.Add("in the manifest but not the archive: " + Names(notInArchive));
        }

        if (notInManifest.Count > 0)
        {
            parts.Add("in the archive but not the manifest: " + Names(notInManifest));
        }

        return new TestCheck(TablesMatchManifest, false, string.Join("; ", parts));
    }

    /// <summary>pg_restore/psql exit status and error output.</summary>
    public static TestCheck RestoreRun(string tool, string database, PgRunOutcome? outcome, string? readFailure)
    {
        if (outcome is null)
        {
            return new TestCheck(Restore, false, $"{tool} into {database} was stopped: {readFailure ?? "the archive could not be read"}");
        }

        if (!outcome.Succeeded)
        {
            return new TestCheck(Restore, false, $"{tool} into {database} failed (exit code {outcome.ExitCode}): {FirstLines(outcome.StandardError)}");
        }

        var errors = ErrorLines(outcome.StandardError);
        return errors.Count > 0
            ? new TestCheck(Restore, false, $"{tool} into {database} reported errors: {string.Join(" | ", errors.Take(5))}")
            : new TestCheck(Restore, true, $"{tool} restored into {database} without errors");
    }

    /// <summary>Every table in the table of contents exists in the restored database.</summary>
    public static TestCheck TablesPresent(IReadOnlyCollection<TableName> expected, IReadOnlyCollection<TableName> restored)
    {
        var present = restored.Select(t => t.Key).ToHashSet(StringComparer.Ordinal);
        var missing = expected.Select(t => t.Key).Where(k => !present.Contains(k)).Order(StringComparer.Ordinal).ToList();
        return missing.Count == 0
            ? new TestCheck(TablesRestored, true, $"all {expected.Count} tables of the archive exist")
            : new TestCheck(TablesRestored, false, $"{missing.Count} of {expected.Count} tables missing after the restore: {Names(missing)}");
    }

    /// <summary>Each table's count(*) after the restore equals the count taken in the dump's snapshot.</summary>
    public static TestCheck RowCountsMatch(IReadOnlyDictionary<string, long> expected, IReadOnlyDictionary<string, long> actual)
    {
        var mismatches = new List<string>();
        foreach (var (table, count) in expected.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!actual.TryGetValue(table, out var found))
            {
                mismatches.Add($"{table}: expected {count.ToString("N0", CultureInfo.InvariantCulture)} rows (manifest), table missing");
            }
            else if (found != count)
            {
                mismatches.Add($"{table}: expected {count.ToString("N0", CultureInfo.InvariantCulture)} rows (manifest), actual {found.ToString("N0", CultureInfo.InvariantCulture)}");
            }
        }

        return mismatches.Count == 0
            ? new TestCheck(RowCounts, true, $"{expected.Count} tables hold the row counts the manifest recorded")
            : new TestCheck(RowCounts, false, string.Join("; ", mismatches.Take(MaxNamesInDetail)) + (mismatches.Count > MaxNamesInDetail ? $"; and {mismatches.Count - MaxNamesInDetail} more" : string.Empty));
    }

    private static string Bytes(long count) => count.ToString("N0", CultureInfo.InvariantCulture) + " bytes";

    private static string Names(IReadOnlyList<string> names)
        => string.Join(", ", names.Take(MaxNamesInDetail)) + (names.Count > MaxNamesInDetail ? $" and {names.Count - MaxNamesInDetail} more" : string.Empty);

    private static string FirstLines(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "no error output" : string.Join(" | ", lines.Take(5));
    }

    /// <summary>Error lines of pg_restore ("pg_restore: error: …") or psql ("psql:…: ERROR: …").</summary>
    private static List<string> ErrorLines(string stderr)
        => stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => l.Contains("error:", StringComparison.OrdinalIgnoreCase) || l.Contains("ERROR:", StringComparison.Ordinal) || l.Contains("FATAL:", StringComparison.Ordinal))
            .ToList();
}
