using System.Text;
using PgBackup.PgTools;
using PgBackup.Server;
using PgBackup.Verification;

namespace PgBackup.Tests.Unit;

public class TemporaryDatabaseNameTests
{
    [Theory]
    [InlineData("shop", "pgbackup_verify_shop_0123abcd")]
    [InlineData("Shop-Prod.EU", "pgbackup_verify_shop_prod_eu_0123abcd")]
    [InlineData("\"; DROP DATABASE x; --", "pgbackup_verify_drop_database_x_0123abcd")]
    [InlineData("Ünïcødé", "pgbackup_verify_n_c_d_0123abcd")]
    [InlineData("日本語", "pgbackup_verify_db_0123abcd")]
    public void Reduces_the_source_name_to_a_plain_identifier(string source, string expected)
        => Assert.Equal(expected, TemporaryDatabaseName.Create(source, "0123abcd"));

    [Fact]
    public void Fits_postgres_63_byte_limit_for_any_source_name()
    {
        var name = TemporaryDatabaseName.Create(new string('a', 63));

        Assert.Equal(63, Encoding.UTF8.GetByteCount(name));
        Assert.Matches("^pgbackup_verify_a+_[0-9a-f]{8}$", name);
    }

    [Fact]
    public void Two_tests_of_one_database_get_different_names()
        => Assert.NotEqual(TemporaryDatabaseName.Create("shop"), TemporaryDatabaseName.Create("shop"));
}

public class DumpHeaderTests
{
    [Fact]
    public void A_custom_archive_starts_with_PGDMP()
    {
        var check = DumpHeader.Check(BackupFormat.Custom, "PGDMP\u0001\u000e\u0000rest"u8);

        Assert.True(check.Passed);
        Assert.Equal("PGDMP custom archive, archive version 1.14.0", check.Detail);
    }

    [Theory]
    [InlineData(BackupFormat.Custom, "hello world, this is text", "expected a custom archive starting with PGDMP, found text (25 bytes read; content not shown)")]
    [InlineData(BackupFormat.Plain, "SELECT 1;", "expected a plain SQL dump starting with \"-- PostgreSQL database dump\", found text (9 bytes read; content not shown)")]
    [InlineData(BackupFormat.Tar, "PGDMP", "expected a tar archive (ustar header), found a custom archive (PGDMP) (5 bytes read; content not shown)")]
    [InlineData(BackupFormat.Custom, "", "expected a custom archive starting with PGDMP, found an empty file")]
    public void Anything_else_fails_and_says_what_kind_of_file_was_found(BackupFormat format, string content, string detail)
    {
        var check = DumpHeader.Check(format, Encoding.ASCII.GetBytes(content));

        Assert.False(check.Passed);
        Assert.Equal(detail, check.Detail);
    }

    [Fact]
    public void Known_compressed_data_is_named_by_its_kind()
        => Assert.Equal("expected a custom archive starting with PGDMP, found gzip data (4 bytes read; content not shown)", DumpHeader.Check(BackupFormat.Custom, new byte[] { 0x1f, 0x8b, 0x08, 0x00 }).Detail);

    [Theory]
    [InlineData(BackupFormat.Custom)]
    [InlineData(BackupFormat.Tar)]
    [InlineData(BackupFormat.Plain)]
    public void A_mismatch_never_echoes_the_file_content(BackupFormat format)
    {
        // E.g. the artifact is a symlink to a secret: the message must not print it.
        var secret = "password=hunter2-S3CRET\nkey=AKIAEXAMPLE\n";
        var checks = new[]
        {
            DumpHeader.Check(format, Encoding.ASCII.GetBytes(secret)),
            DumpHeader.Check(format, Encoding.ASCII.GetBytes("\0\u0001" + secret)),
            DumpHeader.Check(BackupFormat.Tar, TarHead("hunter2-S3CRET", secret)),
            DumpHeader.Check(BackupFormat.Tar, TarHead("toc.dat", secret)),
        };

        foreach (var check in checks)
        {
            Assert.False(check.Passed);
            Assert.DoesNotContain("hunter2", check.Detail, StringComparison.Ordinal);
            Assert.DoesNotContain("passw", check.Detail, StringComparison.Ordinal);
            Assert.DoesNotContain("70617373", check.Detail, StringComparison.OrdinalIgnoreCase); // "pass" in hex
        }
    }

    [Fact]
    public void A_plain_dump_has_pg_dumps_banner()
        => Assert.True(DumpHeader.Check(BackupFormat.Plain, "--\n-- PostgreSQL database dump\n--\n"u8).Passed);

    [Fact]
    public void A_tar_archive_needs_a_valid_header_for_toc_dat_holding_PGDMP()
    {
        var good = TarHead("toc.dat", "PGDMP\u0001\u000e\u0000");
        Assert.True(DumpHeader.Check(BackupFormat.Tar, good).Passed);

        var wrongName = TarHead("other.txt", "PGDMP");
        Assert.Equal("expected the tar archive to start with pg_dump's toc.dat, found a member with another name", DumpHeader.Check(BackupFormat.Tar, wrongName).Detail);

        var notArchive = TarHead("toc.dat", "hello");
        Assert.Equal("expected toc.dat to start with PGDMP, found text (512 bytes read; content not shown)", DumpHeader.Check(BackupFormat.Tar, notArchive).Detail);

        var badChecksum = TarHead("toc.dat", "PGDMP");
        badChecksum[0] = (byte)'T';
        Assert.StartsWith("the tar header checksum is ", DumpHeader.Check(BackupFormat.Tar, badChecksum).Detail);
    }

    [Fact]
    public async Task A_directory_artifact_starts_with_toc_dat_and_round_trips_every_file()
    {
        // A folder as pg_dump -Fd leaves it: table files whose names sort before toc.dat.
        var folder = Directory.CreateTempSubdirectory("pgbackup-dirtest-");
        var unpacked = Directory.CreateTempSubdirectory("pgbackup-dirtest-out-");
        try
        {
            await File.WriteAllBytesAsync(Path.Combine(folder.FullName, "3345.dat.gz"), [0x1f, 0x8b, 8, 0, 1, 2, 3]);
            await File.WriteAllBytesAsync(Path.Combine(folder.FullName, "toc.dat"), "PGDMP\u0001\u000e\u0000rest of the toc"u8.ToArray());
            await File.WriteAllBytesAsync(Path.Combine(folder.FullName, "12.dat.gz"), [0x1f, 0x8b, 8, 0, 9]);
            using var artifact = new MemoryStream();
            await Artifacts.DirectoryArtifact.WriteTarAsync(folder.FullName, artifact, CancellationToken.None);

            var head = artifact.ToArray().AsSpan(0, DumpHeader.Length);
            var check = DumpHeader.Check(BackupFormat.Directory, head);
            Assert.True(check.Passed, check.Detail);

            artifact.Position = 0;
            await Artifacts.DirectoryArtifact.ExtractAsync(artifact, unpacked.FullName, "test", CancellationToken.None);
            foreach (var name in new[] { "toc.dat", "3345.dat.gz", "12.dat.gz" })
            {
                Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(folder.FullName, name)), await File.ReadAllBytesAsync(Path.Combine(unpacked.FullName, name)));
            }

            Assert.Equal(3, Directory.GetFiles(unpacked.FullName).Length);
        }
        finally
        {
            folder.Delete(recursive: true);
            unpacked.Delete(recursive: true);
        }
    }

    /// <summary>A ustar header block for one member, followed by the member's first bytes.</summary>
    private static byte[] TarHead(string name, string content)
    {
        var block = new byte[DumpHeader.Length];
        Encoding.ASCII.GetBytes(name).CopyTo(block, 0);
        Encoding.ASCII.GetBytes("ustar\u000000").CopyTo(block, 257);
        for (var i = 148; i < 156; i++)
        {
            block[i] = (byte)' ';
        }

        var sum = block.Take(512).Sum(b => b);
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(block, 148);
        Encoding.ASCII.GetBytes(content).CopyTo(block, 512);
        return block;
    }
}

public class PlainDumpScannerTests
{
    private const string Dump = """
        --
        -- PostgreSQL database dump
        --

        -- Name: orders; Type: TABLE; Schema: public; Owner: postgres
        CREATE TABLE public.orders (id int);
        -- Name: odd "name" ü; Type: TABLE; Schema: my schema; Owner: -
        -- Name: orders_pkey; Type: CONSTRAINT; Schema: public; Owner: postgres
        -- Name: orders; Type: TABLE DATA; Schema: public; Owner: postgres
        COPY public.orders (id) FROM stdin;
        -- Name: not a comment; Type: TABLE; Schema: x; Owner: y
        \.

        --
        -- PostgreSQL database dump complete
        --
        """;

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(100000)]
    public void Finds_tables_and_the_footer_however_the_stream_is_chunked(int chunkSize)
    {
        var scanner = new PlainDumpScanner();
        var bytes = Encoding.UTF8.GetBytes(Dump.ReplaceLineEndings("\n"));
        for (var i = 0; i < bytes.Length; i += chunkSize)
        {
            scanner.Append(bytes.AsSpan(i, Math.Min(chunkSize, bytes.Length - i)));
        }

        scanner.Complete();

        Assert.True(scanner.SawCompleteFooter);
        // The line inside the COPY data that looks like a comment is data, not a table.
        Assert.Equal(
            [new TableName("public", "orders"), new TableName("my schema", "odd \"name\" ü")],
            scanner.Tables);
    }

    [Fact]
    public void A_cut_dump_has_no_footer()
    {
        var scanner = new PlainDumpScanner();
        scanner.Append(Encoding.UTF8.GetBytes(Dump.ReplaceLineEndings("\n")[..200]));
        scanner.Complete();

        Assert.False(scanner.SawCompleteFooter);
    }
}

public class VerificationChecksTests
{
    private static BackupInfo Backup(CompressionStage compressionStage = CompressionStage.None) => new()
    {
        Id = "shop_20260101T000000Z_abcd",
        Database = "shop",
        Server = "db1:5432",
        StartedAt = DateTime.UnixEpoch,
        ManifestLocation = "/r/x.manifest.json",
        ManifestKey = "x.manifest.json",
        Repository = "/r",
        SizeBytes = 1000,
        Sha256 = "aa",
        Compression = BackupCompression.Gzip,
        CompressionStage = compressionStage,
    };

    [Fact]
    public void Matching_size_and_hash_pass()
    {
        var checks = VerificationChecks.Checksum(Backup(CompressionStage.Stream), new StoredReadOutcome(1000, "aa", null, 0)).ToList();

        Assert.All(checks, c => Assert.True(c.Passed));
        Assert.Equal(["Size", "SHA-256", "Decompression"], checks.Select(c => c.Name));
        Assert.Equal("1,000 bytes, as the manifest says", checks[0].Detail);
    }

    [Fact]
    public void A_truncated_file_names_both_sizes_and_both_hashes()
    {
        var checks = VerificationChecks.Checksum(Backup(), new StoredReadOutcome(400, "bb", null, 0)).ToList();

        Assert.Equal("expected 1,000 bytes (manifest), actual 400 bytes (truncated)", checks[0].Detail);
        Assert.Equal("expected sha256 aa (manifest), actual sha256 bb", checks[1].Detail);
        Assert.DoesNotContain(checks, c => c.Passed);
    }

    [Fact]
    public void A_file_larger_than_the_manifest_says_fails_without_a_hash()
    {
        var checks = VerificationChecks.Checksum(Backup(), new StoredReadOutcome(1001, null, null, 0)).ToList();

        Assert.Equal("expected 1,000 bytes (manifest), the file holds more", checks[0].Detail);
        Assert.Equal("expected sha256 aa (manifest), not computed: the file is larger than the manifest says", checks[1].Detail);
    }

    [Fact]
    public void Compressed_data_must_decode_and_end_where_the_file_ends()
    {
        Assert.Equal("the gzip stream does not decode: bad block", VerificationChecks.Checksum(Backup(CompressionStage.Stream), new StoredReadOutcome(1000, "aa", "bad block", 0)).Last().Detail);
        Assert.Equal("12 bytes follow the end of the gzip data", VerificationChecks.Checksum(Backup(CompressionStage.Stream), new StoredReadOutcome(1000, "aa", null, 12)).Last().Detail);
        // Bad stored bytes make a clean decode meaningless: no Decompression verdict either way.
        Assert.DoesNotContain(VerificationChecks.Checksum(Backup(CompressionStage.Stream), new StoredReadOutcome(400, "bb", null, 0)), c => c.Name == "Decompression");
    }

    [Fact]
    public void Tables_are_compared_with_the_manifest_both_ways()
    {
        var check = VerificationChecks.TablesAgainstManifest(
            [new TableName("public", "a"), new TableName("public", "b")],
            new Dictionary<string, long> { ["\"public\".\"a\""] = 1, ["\"public\".\"c\""] = 2 });

        Assert.False(check.Passed);
        Assert.Equal("in the manifest but not the archive: \"public\".\"c\"; in the archive but not the manifest: \"public\".\"b\"", check.Detail);
    }

    [Fact]
    public void Row_count_mismatches_name_table_expected_and_actual()
    {
        var check = VerificationChecks.RowCountsMatch(
            new Dictionary<string, long> { ["\"public\".\"a\""] = 1500, ["\"public\".\"b\""] = 2, ["\"public\".\"c\""] = 3 },
            new Dictionary<string, long> { ["\"public\".\"a\""] = 1499, ["\"public\".\"b\""] = 2 });

        Assert.Equal("\"public\".\"a\": expected 1,500 rows (manifest), actual 1,499; \"public\".\"c\": expected 3 rows (manifest), table missing", check.Detail);
    }

    [Fact]
    public void A_restore_is_judged_by_exit_code_and_error_lines()
    {
        Assert.True(VerificationChecks.RestoreRun("pg_restore", "t", new PgRunOutcome(0, "", ""), null).Passed);
        Assert.Equal("pg_restore into t failed (exit code 1): pg_restore: error: could not execute query", VerificationChecks.RestoreRun("pg_restore", "t", new PgRunOutcome(1, "", "pg_restore: error: could not execute query\n"), null).Detail);
        Assert.False(VerificationChecks.RestoreRun("psql", "t", new PgRunOutcome(0, "", "psql:<stdin>:5: ERROR:  boom"), null).Passed);
        Assert.Equal("pg_restore into t was stopped: corrupt", VerificationChecks.RestoreRun("pg_restore", "t", null, "corrupt").Detail);
    }

    [Fact]
    public void Missing_tables_are_named()
    {
        var check = VerificationChecks.TablesPresent([new TableName("public", "a"), new TableName("s", "b")], [new TableName("public", "a")]);

        Assert.Equal("1 of 2 tables missing after the restore: \"s\".\"b\"", check.Detail);
    }
}
