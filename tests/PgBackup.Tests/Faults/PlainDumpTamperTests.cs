using System.Text;
using PgBackup.Errors;
using PgBackup.Restore;
using PgBackup.Storage;
using PgBackup.Tests.Integration;
using PgBackup.Verification;

namespace PgBackup.Tests.Faults;

/// <summary>
/// A plain dump is a psql script: a tampered one must never reach psql. The tamper replaces pg_dump's
/// <c>\restrict</c> line with a shell escape of exactly the same length, so only the SHA-256 (or, when
/// the manifest was rewritten to match, the meta-command guard) can tell.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PlainDumpTamperTests(PostgresFixture postgres) : IAsyncLifetime
{
    private readonly TempFolder _repository = new();
    private readonly string _marker = Path.Combine(Path.GetTempPath(), "pgbackup-tamper-" + Guid.NewGuid().ToString("N"));
    private string _database = string.Empty;

    public async Task InitializeAsync()
    {
        _database = PostgresFixture.UniqueName("tamper");
        await postgres.Cluster.CreateNorthwindAsync(_database);
    }

    public Task DisposeAsync()
    {
        File.Delete(_marker);
        _repository.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Test_level_restore_reports_the_checksum_mismatch_and_never_runs_the_planted_command()
    {
        var tampered = await TamperAsync(updateManifest: false);

        var result = await VerificationSteps.TestAsync(postgres, tampered, TestLevel.Restore);

        Assert.False(File.Exists(_marker), "psql ran the planted shell command");
        Assert.False(result.Passed);
        Assert.False(VerificationSteps.Check(result, VerificationChecks.Sha256).Passed);
        Assert.DoesNotContain(result.Checks, c => c.Name == VerificationChecks.Restore && c.Passed);
        Assert.Empty(await VerificationSteps.LeftoverVerifyDatabasesAsync(postgres));
    }

    [Fact]
    public async Task Restore_refuses_a_tampered_plain_dump_as_corrupt_before_psql_starts()
    {
        var tampered = await TamperAsync(updateManifest: false);
        var target = PostgresFixture.UniqueName("tamper_new");

        var error = await Assert.ThrowsAsync<BackupCorruptException>(() => RestoreAsync(tampered, target));

        Assert.Equal("BackupCorrupt", error.ErrorId);
        Assert.False(File.Exists(_marker), "psql ran the planted shell command");
        Assert.DoesNotContain(await postgres.Cluster.ListDatabasesAsync(), d => d.StartsWith(target, StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_a_matching_manifest_the_guard_refuses_the_meta_command_at_the_test_level()
    {
        var tampered = await TamperAsync(updateManifest: true);

        var result = await VerificationSteps.TestAsync(postgres, tampered, TestLevel.Restore);

        Assert.False(File.Exists(_marker), "psql ran the planted shell command");
        Assert.True(VerificationSteps.Check(result, VerificationChecks.Sha256).Passed);
        var guard = VerificationSteps.Check(result, VerificationChecks.PsqlCommands);
        Assert.False(guard.Passed);
        Assert.Contains("line 5", guard.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(_marker, guard.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain(result.Checks, c => c.Name == VerificationChecks.Restore);
        Assert.Null(result.TemporaryDatabase);
        Assert.Empty(await VerificationSteps.LeftoverVerifyDatabasesAsync(postgres));
    }

    [Fact]
    public async Task With_a_matching_manifest_restore_fails_with_UnsafeDump_and_creates_nothing()
    {
        var tampered = await TamperAsync(updateManifest: true);
        var target = PostgresFixture.UniqueName("tamper_new");

        var error = await Assert.ThrowsAsync<UnsafeDumpException>(() => RestoreAsync(tampered, target));

        Assert.Equal("UnsafeDump", error.ErrorId);
        Assert.Contains("line 5", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_marker, error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_marker), "psql ran the planted shell command");
        Assert.DoesNotContain(await postgres.Cluster.ListDatabasesAsync(), d => d.StartsWith(target, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_genuine_plain_dump_with_restrict_lines_still_restores()
    {
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, _database, BackupFormat.Plain, BackupCompression.None);
        Assert.Contains("\n\\restrict ", await File.ReadAllTextAsync(backup.Location!), StringComparison.Ordinal);
        var target = PostgresFixture.UniqueName("genuine \"plain\" ü");

        var result = await RestoreAsync(backup, target);

        Assert.Equal(target, result.TargetDatabase);
        Assert.Contains(target, await postgres.Cluster.ListDatabasesAsync());
        await postgres.Cluster.PsqlAsync("postgres", $"DROP DATABASE {Server.DatabaseAdmin.QuoteIdentifier(target)};");
    }

    /// <summary>Backs up as an uncompressed plain dump and swaps its \restrict line for a same-size shell escape.</summary>
    private async Task<BackupInfo> TamperAsync(bool updateManifest)
    {
        var backup = await VerificationSteps.BackUpAsync(postgres, _repository.Path, _database, BackupFormat.Plain, BackupCompression.None);
        var text = await File.ReadAllTextAsync(backup.Location!);
        var lines = text.Split('\n');
        var restrict = Array.FindIndex(lines, l => l.StartsWith("\\restrict ", StringComparison.Ordinal));
        Assert.Equal(4, restrict); // line 5, as pg_dump 15 writes it
        var planted = $"\\! touch {_marker}";
        Assert.True(planted.Length <= lines[restrict].Length, "the marker path is too long for a same-size tamper");
        lines[restrict] = planted + new string(' ', lines[restrict].Length - planted.Length);
        var bytes = Encoding.UTF8.GetBytes(string.Join('\n', lines));
        Assert.Equal(new FileInfo(backup.Location!).Length, bytes.Length);
        return await VerificationSteps.ReplaceArtifactAsync(backup, bytes, updateManifest);
    }

    private Task<RestoreResult> RestoreAsync(BackupInfo backup, string target)
        => new RestoreService().RunAsync(
            new RestoreRequest
            {
                Backup = backup,
                Repository = new LocalRepository(backup.Repository),
                Connection = postgres.Connection(),
                TargetDatabase = target,
            },
            CancellationToken.None);
}
