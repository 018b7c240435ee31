using System.Security.Cryptography;
using PgBackup.Diagnostics;
using PgBackup.Errors;
using PgBackup.PgTools;
using PgBackup.Streaming;

namespace PgBackup.Tests.Unit;

public class PgDumpArgumentsTests
{
    [Fact]
    public void Passes_the_database_as_a_quoted_conninfo_so_no_name_is_reinterpreted()
    {
        var args = PgDumpArguments.Build(new PgDumpOptions { Database = "host=evil dbname='x'" }, 15);

        Assert.Equal(@"--dbname=dbname='host=evil dbname=\'x\''", args[^1]);
    }

    [Fact]
    public void Never_puts_connection_details_or_secrets_in_argv()
    {
        var args = PgDumpArguments.Build(new PgDumpOptions { Database = "shop" }, 15);

        Assert.Contains("--no-password", args);
        Assert.DoesNotContain(args, a => a.StartsWith("--host", StringComparison.Ordinal) || a.StartsWith("--username", StringComparison.Ordinal) || a.Contains("password=", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(15, "gzip", 6, "--compress=6")]
    [InlineData(15, null, null, "--compress=0")]
    [InlineData(16, "zstd", 3, "--compress=zstd:3")]
    [InlineData(17, "lz4", null, "--compress=lz4")]
    public void Asks_pg_dump_for_its_own_compression_in_the_syntax_its_version_knows(int major, string? method, int? level, string expected)
    {
        var args = PgDumpArguments.Build(new PgDumpOptions { Database = "d", CompressionMethod = method, CompressionLevel = level }, major);

        Assert.Contains(expected, args);
    }

    [Fact]
    public void Leaves_gzip_at_the_default_level_when_none_is_given_on_old_pg_dump()
    {
        var args = PgDumpArguments.Build(new PgDumpOptions { Database = "d", CompressionMethod = "gzip" }, 15);

        Assert.DoesNotContain(args, a => a.StartsWith("--compress", StringComparison.Ordinal));
    }

    [Fact]
    public void Adds_schema_only_snapshot_and_format()
    {
        var args = PgDumpArguments.Build(new PgDumpOptions { Database = "d", Format = BackupFormat.Tar, SchemaOnly = true, Snapshot = "00000003-0000001B-1" }, 15);

        Assert.Contains("--format=tar", args);
        Assert.Contains("--schema-only", args);
        Assert.Contains("--snapshot=00000003-0000001B-1", args);
    }
}

public class PgToolVersionTests
{
    [Theory]
    [InlineData("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)", 15, 18)]
    [InlineData("pg_dump (PostgreSQL) 17.2", 17, 2)]
    [InlineData("pg_restore (PostgreSQL) 18beta1", 18, 0)]
    [InlineData("pg_dump (PostgreSQL) 9.6.24", 96, 0)]
    public void Parses_tool_version_output(string output, int major, int minor)
    {
        var version = PgToolVersion.TryParse(output)!;

        Assert.Equal((major, minor), (version.Major, version.Minor));
    }

    [Theory]
    [InlineData("")]
    [InlineData("bash: pg_dump: command not found")]
    public void Returns_null_for_anything_else(string output) => Assert.Null(PgToolVersion.TryParse(output));

    [Theory]
    [InlineData(150018, 15)]
    [InlineData(170002, 17)]
    [InlineData(90624, 906)]
    public void Reads_server_version_num(int number, int major)
        => Assert.Equal(major, PgToolVersion.FromServerVersionNumber(number, "x").Major);
}

// The fake tools are shell scripts: this class describes Unix behaviour.
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class PgToolLocatorTests : IDisposable
{
    private readonly string _bin = Path.Combine(Path.GetTempPath(), "pgbackup-fakebin-" + Guid.NewGuid().ToString("N")[..8]);

    public PgToolLocatorTests() => Directory.CreateDirectory(_bin);

    public void Dispose() => Directory.Delete(_bin, recursive: true);

    private void FakeTool(string name, string versionLine)
    {
        var path = Path.Combine(_bin, name);
        File.WriteAllText(path, $"#!/bin/sh\necho '{versionLine}'\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    private PgToolLocator Locator() => new(name => name == PgToolLocator.BinFolderVariable ? _bin : null);

    [Fact]
    public async Task Refuses_a_pg_dump_older_than_the_server_with_a_clear_error()
    {
        FakeTool("pg_dump", "pg_dump (PostgreSQL) 12.3");

        var error = await Assert.ThrowsAsync<PgToolVersionMismatchException>(() => Locator().FindAsync("pg_dump", 15, CancellationToken.None));

        Assert.Equal("PgToolVersionMismatch", error.ErrorId);
        Assert.Contains("12.3", error.Message, StringComparison.Ordinal);
        Assert.Contains(PgToolLocator.BinFolderVariable, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Accepts_a_newer_pg_dump()
    {
        FakeTool("pg_dump", "pg_dump (PostgreSQL) 17.1");

        var tool = await Locator().FindAsync("pg_dump", 15, CancellationToken.None);

        Assert.Equal(17, tool.Version.Major);
        Assert.Equal(Path.Combine(_bin, "pg_dump"), tool.Path);
    }

    [Fact]
    public async Task Says_where_it_looked_when_the_tool_is_missing()
    {
        var error = await Assert.ThrowsAsync<PgToolNotFoundException>(() => Locator().FindAsync("pg_restore", 15, CancellationToken.None));

        Assert.Contains(_bin, error.Message, StringComparison.Ordinal);
    }
}

public class StreamStageTests
{
    private static byte[] RandomBytes(int count)
    {
        var bytes = new byte[count];
        new Random(42).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public void Hashing_stream_counts_and_hashes_exactly_what_reaches_the_sink()
    {
        var data = RandomBytes(3_000_001);
        using var sink = new MemoryStream();
        using (var hashing = new HashingStream(sink, leaveOpen: true))
        {
            hashing.Write(data, 0, 1000);
            hashing.Write(data.AsSpan(1000));
            Assert.Equal(data.Length, hashing.BytesWritten);
            Assert.Equal(Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant(), hashing.GetHashHex());
        }

        Assert.Equal(data, sink.ToArray());
    }

    [Theory]
    [InlineData(BackupCompression.Gzip)]
    [InlineData(BackupCompression.Zstd)]
    [InlineData(BackupCompression.Lz4)]
    [InlineData(BackupCompression.None)]
    public async Task Compression_stages_round_trip(BackupCompression compression)
    {
        var data = RandomBytes(1_500_000);
        using var stored = new MemoryStream();
        await using (var compressor = CompressionStages.Compress(stored, compression, 3, leaveOpen: true))
        {
            await compressor.WriteAsync(data);
        }

        stored.Position = 0;
        await using var decompressor = CompressionStages.Decompress(stored, compression, leaveOpen: true);
        using var restored = new MemoryStream();
        await decompressor.CopyToAsync(restored);

        Assert.Equal(data, restored.ToArray());
    }

    [Fact]
    public async Task Verifying_stream_passes_intact_data()
    {
        var data = RandomBytes(100_000);
        var verifying = new VerifyingReadStream(new MemoryStream(data), Convert.ToHexString(SHA256.HashData(data)), data.Length, "x");

        await verifying.DrainAsync(CancellationToken.None);

        Assert.Equal(data.Length, verifying.BytesRead);
    }

    [Fact]
    public async Task Verifying_stream_names_a_flipped_byte()
    {
        var data = RandomBytes(100_000);
        var hash = Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();
        data[50_000] ^= 0xFF;
        var verifying = new VerifyingReadStream(new MemoryStream(data), hash, data.Length, "backup.dump");

        var error = await Assert.ThrowsAsync<BackupCorruptException>(() => verifying.DrainAsync(CancellationToken.None));

        Assert.Contains(hash, error.Message, StringComparison.Ordinal);
        Assert.Contains("backup.dump", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verifying_stream_reports_truncation_and_growth()
    {
        var data = RandomBytes(10_000);
        var hash = Convert.ToHexString(SHA256.HashData(data));

        var truncated = new VerifyingReadStream(new MemoryStream(data[..9_000]), hash, data.Length, "x");
        var grown = new VerifyingReadStream(new MemoryStream([.. data, 1]), hash, data.Length, "x");

        Assert.Contains("truncated", (await Assert.ThrowsAsync<BackupCorruptException>(() => truncated.DrainAsync(CancellationToken.None))).Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<BackupCorruptException>(() => grown.DrainAsync(CancellationToken.None));
    }
}

public class SecretRedactorTests
{
    [Fact]
    public void Masks_secrets_and_their_url_encoded_form()
    {
        var redactor = new SecretRedactor(["p@ss word", null, ""]);

        var text = redactor.Redact("failed for postgresql://u:p%40ss%20word@h and p@ss word");

        Assert.DoesNotContain("p@ss word", text, StringComparison.Ordinal);
        Assert.DoesNotContain("p%40ss%20word", text, StringComparison.Ordinal);
        Assert.Contains(SecretRedactor.Mask, text, StringComparison.Ordinal);
    }
}

public class SessionInteractivityTests
{
    private static Func<string, string?> Env(string? name = null, string? value = null) => key => key == name ? value : null;

    [Fact]
    public void A_console_with_a_user_is_interactive() => Assert.True(SessionInteractivity.IsInteractive(Env(), false, true, ["pwsh"]));

    [Theory]
    [InlineData("CI", "true")]
    [InlineData("TF_BUILD", "True")]
    [InlineData("GITHUB_ACTIONS", "true")]
    public void CI_systems_are_not(string name, string value) => Assert.False(SessionInteractivity.IsInteractive(Env(name, value), false, true, ["pwsh"]));

    [Fact]
    public void CI_false_does_not_count() => Assert.True(SessionInteractivity.IsInteractive(Env("CI", "false"), false, true, ["pwsh"]));

    [Fact]
    public void Redirected_input_or_NonInteractive_are_not()
    {
        Assert.False(SessionInteractivity.IsInteractive(Env(), true, true, ["pwsh"]));
        Assert.False(SessionInteractivity.IsInteractive(Env(), false, false, ["pwsh"]));
        Assert.False(SessionInteractivity.IsInteractive(Env(), false, true, ["pwsh", "-NonInteractive", "-File", "x.ps1"]));
    }
}
