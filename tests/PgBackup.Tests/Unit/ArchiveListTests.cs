using PgBackup.PgTools;
using PgBackup.Verification;

namespace PgBackup.Tests.Unit;

/// <summary>
/// pg_restore --list of an archive: an empty database (the "postgres" database that -AllDatabases always includes)
/// has an archive header and no entries, and is a good backup; output without the header is not a listing.
/// </summary>
public class ArchiveListTests
{
    // pg_restore 15 --list of a custom archive of a database without objects, as printed.
    private const string EmptyDatabaseListing = """
        ;
        ; Archive created at 2026-12-02 14:13:12 UTC
        ;     dbname: billing
        ;     TOC Entries: 4
        ;     Compression: -1
        ;     Dump Version: 1.14-0
        ;     Format: CUSTOM
        ;     Integer: 4 bytes
        ;     Offset: 8 bytes
        ;     Dumped from database version: 15.18 (Debian 15.18-0+deb12u1)
        ;     Dumped by pg_dump version: 15.18 (Debian 15.18-0+deb12u1)
        ;
        ;
        ; Selected TOC Entries:
        ;

        """;

    [Fact]
    public void An_empty_database_archive_passes_the_table_of_contents_check()
    {
        var check = VerificationChecks.ArchiveList(new PgRunOutcome(0, EmptyDatabaseListing, string.Empty), null);

        Assert.True(check.Passed, check.Detail);
        Assert.Contains("no objects", check.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData(";\n; Selected TOC Entries:\n;\n")]
    [InlineData("something else entirely\n")]
    public void Output_without_an_archive_header_or_entries_fails_it(string output)
    {
        var check = VerificationChecks.ArchiveList(new PgRunOutcome(0, output, string.Empty), null);

        Assert.False(check.Passed);
    }
}
