using System.Diagnostics;
using System.Globalization;
using PgBackup.Artifacts;

namespace PgBackup.Tests.Integration;

/// <summary>
/// A custom archive pg_dump wrote to a pipe, once its data offsets are patched, has the table of contents pg_dump
/// writes into a file with -f: same offsets, same bytes. Real pg_dump output both ways, from the same database.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ArchiveDataOffsetsTests(PostgresFixture postgres) : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("pgbackup-offsets-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private async Task<string> CreateDatabaseAsync()
    {
        var database = PostgresFixture.UniqueName("offsets");
        await postgres.Cluster.CreateNorthwindAsync(database);
        // A large object (its own kind of data block), an empty table and a table with many rows (a chunk per row with -Z0).
        await postgres.Cluster.PsqlAsync(database, """
            SELECT lo_from_bytea(0, convert_to(repeat('large object ', 1000), 'UTF8'));
            CREATE TABLE empty_table (id int);
            CREATE TABLE many_rows AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 20000) g;
            """);
        return database;
    }

    private string[] DumpArguments(string database, string compression) =>
        ["-Fc", "-Z", compression, "-h", postgres.Cluster.SocketDirectory, "-p", postgres.Cluster.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-d", database];

    /// <summary>pg_dump with -f: it seeks back and writes the offsets itself.</summary>
    private async Task<string> DumpToFileAsync(string database, string compression)
    {
        var path = Path.Combine(_folder, $"file-{compression}.dump");
        await RunAsync(postgres.Cluster.Tool("pg_dump"), [.. DumpArguments(database, compression), "-f", path], stdoutTo: null);
        return path;
    }

    /// <summary>pg_dump writing to a pipe, as New-PgBackup runs it.</summary>
    private async Task<string> DumpThroughPipeAsync(string database, string compression)
    {
        var path = Path.Combine(_folder, $"pipe-{compression}.dump");
        await RunAsync(postgres.Cluster.Tool("pg_dump"), DumpArguments(database, compression), stdoutTo: path);
        return path;
    }

    [Theory]
    [InlineData("0")]
    [InlineData("6")]
    public async Task A_piped_archive_patched_has_the_offsets_and_bytes_pg_dump_writes_to_a_file(string compression)
    {
        var database = await CreateDatabaseAsync();
        var file = await DumpToFileAsync(database, compression);
        var piped = await DumpThroughPipeAsync(database, compression);
        var expected = ReadLayout(file);
        var before = ReadLayout(piped);
        Assert.Contains(before.Entries, e => e.Flag == 1); // position not set: what the patch is for
        Assert.DoesNotContain(expected.Entries, e => e.Flag == 1);

        var patched = ArchiveDataOffsets.Patch(piped, CancellationToken.None);

        var after = ReadLayout(piped);
        Assert.Equal(before.Entries.Count(e => e.Flag == 1), patched);
        Assert.True(patched >= 10, $"only {patched} entries with data");
        Assert.Equal(expected.Entries, after.Entries);
        // From the first TOC entry to the end, the patched archive is byte for byte the file pg_dump wrote
        // (the header before it holds the dump's start time).
        var tocStart = expected.Entries[0].Position;
        Assert.Equal(tocStart, after.Entries[0].Position);
        Assert.Equal((await File.ReadAllBytesAsync(file))[(int)tocStart..], (await File.ReadAllBytesAsync(piped))[(int)tocStart..]);

        // pg_restore reads it, in parallel too.
        await AssertRestoresInParallelAsync(database, piped, database + "_r");
    }

    [Fact]
    public async Task Compacting_an_uncompressed_archive_joins_its_row_chunks_and_pg_restore_reads_the_same_dump()
    {
        var database = await CreateDatabaseAsync();
        var piped = await DumpThroughPipeAsync(database, "0");
        var compacted = Path.Combine(_folder, "compacted.dump");
        File.Copy(piped, compacted);

        var entries = ArchiveDataOffsets.Compact(compacted, CancellationToken.None);

        // Every entry with data points at its block, as in an archive pg_dump wrote with -f.
        var layout = ReadLayout(compacted);
        Assert.True(entries >= 10, $"only {entries} entries with data");
        Assert.DoesNotContain(layout.Entries, e => e.Flag == 1);
        Assert.All(layout.Entries.Where(e => e.Flag == 2), e => Assert.Equal(layout.DataBlocks[e.DumpId], e.Offset));
        // many_rows alone was 20,000 chunks of one row (5 bytes of length each); now a few of up to 256 KiB.
        Assert.True(new FileInfo(compacted).Length < new FileInfo(piped).Length - (5 * 20_000), $"{new FileInfo(compacted).Length} against {new FileInfo(piped).Length} bytes");
        // The same dump: pg_restore's SQL (schema, every row of COPY data, the large object) is identical.
        var sqlBefore = Path.Combine(_folder, "before.sql");
        var sqlAfter = Path.Combine(_folder, "after.sql");
        await RunAsync(postgres.Cluster.Tool("pg_restore"), ["-f", sqlBefore, piped], stdoutTo: null);
        await RunAsync(postgres.Cluster.Tool("pg_restore"), ["-f", sqlAfter, compacted], stdoutTo: null);
        // (pg_restore 15.14 and later fence the script with \restrict and a random key of its own each run.)
        var printedBefore = WithoutRestrictKeys(await File.ReadAllLinesAsync(sqlBefore));
        var printedAfter = WithoutRestrictKeys(await File.ReadAllLinesAsync(sqlAfter));
        Assert.True(printedBefore.SequenceEqual(printedAfter), "pg_restore printed another dump");
        Assert.True(printedBefore.Length > 20_000, $"only {printedBefore.Length} lines");

        // And it restores in parallel.
        await AssertRestoresInParallelAsync(database, compacted, database + "_c");
    }

    [Fact]
    public async Task Compacting_a_compressed_archive_only_sets_its_offsets_as_pg_dump_writes_them()
    {
        var database = await CreateDatabaseAsync();
        var file = await DumpToFileAsync(database, "6");
        var piped = await DumpThroughPipeAsync(database, "6");

        Assert.True(ArchiveDataOffsets.Compact(piped, CancellationToken.None) >= 10);

        var tocStart = ReadLayout(file).Entries[0].Position;
        Assert.Equal((await File.ReadAllBytesAsync(file))[(int)tocStart..], (await File.ReadAllBytesAsync(piped))[(int)tocStart..]);
    }

    /// <summary>Restore-PgBackup and Test-PgBackup -Level Restore run pg_restore -j on this copy.</summary>
    [Theory]
    [InlineData(BackupCompression.Zstd)]
    [InlineData(BackupCompression.Gzip)]
    public async Task The_verified_copy_of_a_custom_backup_has_its_data_offsets_set(BackupCompression compression)
    {
        var database = await CreateDatabaseAsync();
        var backup = await VerificationSteps.BackUpAsync(postgres, Path.Combine(_folder, "repository"), database, compression: compression);

        await using var copy = await PgBackup.Verification.VerifiedDumpFile.DownloadAsync(new PgBackup.Storage.LocalRepository(backup.Repository), backup, null, null, CancellationToken.None);

        Assert.True(copy.ChecksumPassed);
        var layout = ReadLayout(copy.Path);
        Assert.DoesNotContain(layout.Entries, e => e.Flag == 1);
        Assert.All(layout.Entries.Where(e => e.Flag == 2), e => Assert.Equal(layout.DataBlocks[e.DumpId], e.Offset));
        Assert.True(layout.DataBlocks.Count >= 10);
    }

    [Fact]
    public async Task An_archive_that_does_not_parse_to_its_end_or_has_an_unknown_version_is_left_unchanged()
    {
        var database = await CreateDatabaseAsync();
        var piped = await DumpThroughPipeAsync(database, "0");
        var original = await File.ReadAllBytesAsync(piped);

        var damaged = new Dictionary<string, byte[]>
        {
            ["truncated"] = original[..(original.Length - 3)],
            ["unknown version"] = WithByte(original, 6, 99),
            ["not custom format"] = WithByte(original, 10, 3),
            ["bad block type"] = WithByte(original, (int)ReadLayout(piped).DataBlocks.Values.Max(), 7),
            ["not an archive"] = "-- PostgreSQL database dump\n"u8.ToArray(),
        };
        foreach (var (name, bytes) in damaged)
        {
            var path = Path.Combine(_folder, name.Replace(' ', '-') + ".dump");
            await File.WriteAllBytesAsync(path, bytes);

            Assert.Equal(0, ArchiveDataOffsets.Patch(path, CancellationToken.None));
            var afterPatch = await File.ReadAllBytesAsync(path);
            Assert.True(bytes.AsSpan().SequenceEqual(afterPatch), name);
            Assert.Equal(0, ArchiveDataOffsets.Compact(path, CancellationToken.None));
            var afterCompact = await File.ReadAllBytesAsync(path);
            Assert.True(bytes.AsSpan().SequenceEqual(afterCompact), name + " (compact)");
        }
    }

    /// <summary>pg_restore -j 2 of <paramref name="archive"/> into a new database gives the source's rows and its large object.</summary>
    private async Task AssertRestoresInParallelAsync(string source, string archive, string target)
    {
        await postgres.Cluster.CreateDatabaseAsync(target);
        await RunAsync(postgres.Cluster.Tool("pg_restore"), ["-j", "2", "-h", postgres.Cluster.SocketDirectory, "-p", postgres.Cluster.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-d", target, archive], stdoutTo: null);
        Assert.Equal(await postgres.Cluster.RowCountsAsync(source), await postgres.Cluster.RowCountsAsync(target));
        Assert.Equal("1", (await postgres.Cluster.PsqlAsync(target, "SELECT count(*) FROM pg_largeobject_metadata;")).Trim());
    }

    private static string[] WithoutRestrictKeys(string[] lines) =>
        [.. lines.Where(line => !line.StartsWith("\\restrict ", StringComparison.Ordinal) && !line.StartsWith("\\unrestrict ", StringComparison.Ordinal))];

    private static byte[] WithByte(byte[] bytes, int index, byte value)
    {
        var copy = bytes.ToArray();
        copy[index] = value;
        return copy;
    }

    private static ArchiveDataOffsets.Layout ReadLayout(string path)
    {
        using var stream = File.OpenRead(path);
        return ArchiveDataOffsets.Read(stream, CancellationToken.None) ?? throw new InvalidOperationException($"{path} does not parse");
    }

    private static async Task RunAsync(string tool, string[] arguments, string? stdoutTo)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = stdoutTo is not null, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        if (stdoutTo is not null)
        {
            // A pipe: pg_dump cannot seek back in it.
            await using var output = File.Create(stdoutTo);
            await process.StandardOutput.BaseStream.CopyToAsync(output);
        }

        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{Path.GetFileName(tool)} failed: {await error}");
    }
}
