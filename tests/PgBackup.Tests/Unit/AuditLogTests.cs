using System.Text;
using System.Text.Json;
using PgBackup.Diagnostics;
using PgBackup.Errors;

namespace PgBackup.Tests.Unit;

/// <summary>The audit log's lines (issue 14): one JSON object each, whole under concurrent writers, never a secret.</summary>
public class AuditLogTests
{
    private static readonly DateTime StartedAt = new(2026, 3, 1, 2, 30, 0, DateTimeKind.Utc);

    private static BackupInfo Backup(string database = "shop", BackupStatus status = BackupStatus.Succeeded) => new()
    {
        Id = $"{database}_20260301T023000Z_ab12",
        Database = database,
        Server = "db1:5432",
        StartedAt = StartedAt,
        CompletedAt = StartedAt.AddSeconds(12.5),
        SizeBytes = 4096,
        ManifestLocation = "/var/backups/pg/2026/03/01/x.manifest.json",
        ManifestKey = "2026/03/01/x.manifest.json",
        Repository = "/var/backups/pg",
        Status = status,
    };

    private static List<JsonElement> ReadLines(string path)
        => File.ReadAllLines(path).Select(line => JsonDocument.Parse(line).RootElement.Clone()).ToList();

    [Fact]
    public void A_line_is_one_JSON_object_ending_in_a_newline_with_control_characters_escaped()
    {
        var entry = new AuditEntry { Operation = "New-PgBackup", Action = "Backup", Status = "Failed", Database = "we\"ird\nname", Message = "line one\nline two\r\n\ttab" };

        var bytes = AuditLog.Serialize(entry, SecretRedactor.None, StartedAt);
        var text = Encoding.UTF8.GetString(bytes);

        Assert.EndsWith("\n", text, StringComparison.Ordinal);
        Assert.Equal(1, text.Count(c => c == '\n'));
        Assert.DoesNotContain('\r', text);
        var json = JsonDocument.Parse(text).RootElement;
        Assert.Equal("2026-03-01T02:30:00.000Z", json.GetProperty("time").GetString());
        Assert.Equal("we\"ird\nname", json.GetProperty("database").GetString());
        Assert.Equal("line one\nline two\r\n\ttab", json.GetProperty("message").GetString());
        Assert.Equal(System.Environment.MachineName, json.GetProperty("hostName").GetString());
        Assert.Equal(System.Environment.UserName, json.GetProperty("userName").GetString());
        Assert.Equal(System.Environment.ProcessId, json.GetProperty("processId").GetInt32());
        Assert.False(json.TryGetProperty("backupId", out _), "absent fields are left out");
    }

    [Fact]
    public void Every_text_field_passes_through_the_redactor()
    {
        var entry = new AuditEntry
        {
            Operation = "New-PgBackup",
            Action = "Backup",
            Status = "Failed",
            Server = "db1",
            Location = "postgresql://u:S3cr%2Ft@db1/app",
            Message = "password S3cr/t rejected",
        };

        var text = Encoding.UTF8.GetString(AuditLog.Serialize(entry, new SecretRedactor(["S3cr/t"]), StartedAt));

        Assert.DoesNotContain("S3cr", text, StringComparison.Ordinal);
        Assert.Contains(SecretRedactor.Mask, text, StringComparison.Ordinal);
    }

    [Fact]
    public void Threads_of_one_process_appending_at_once_leave_every_line_whole()
    {
        using var folder = new TempFolder();
        var log = new AuditLog(Path.Combine(folder.Path, "audit.jsonl"));
        const int Threads = 8;
        const int PerThread = 400;
        // A long message makes each write big enough for interleaving to show, were lines not written whole.
        var message = new string('m', 3000);

        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, thread =>
        {
            for (var i = 0; i < PerThread; i++)
            {
                log.Append(new AuditEntry { Operation = "Test", Action = "Test", Status = "Succeeded", BackupId = $"{thread}:{i}", Message = message }, SecretRedactor.None);
            }
        });

        var ids = ReadLines(log.Path).Select(line => line.GetProperty("backupId").GetString()).ToList();
        Assert.Equal(Threads * PerThread, ids.Count);
        Assert.Equal(Threads * PerThread, ids.Distinct().Count());
    }

    [Fact]
    public void A_failed_test_is_one_Failed_line_with_BackupTestFailed_not_two()
    {
        using var folder = new TempFolder();
        var log = new AuditLog(Path.Combine(folder.Path, "audit.jsonl"));
        var trail = new AuditTrail(log, "Test-PgBackup", _ => { });
        var result = new TestResult { Backup = Backup(), Level = TestLevel.Checksum, Checks = [new TestCheck("Sha256", false, "hash differs")], Duration = TimeSpan.FromSeconds(2) };

        trail.RecordOutcome(result);
        trail.RecordFailure(new BackupTestFailedException("Backup failed the Checksum test.", result.Backup), result.Backup);

        var line = Assert.Single(ReadLines(log.Path));
        Assert.Equal("Failed", line.GetProperty("status").GetString());
        Assert.Equal("BackupTestFailed", line.GetProperty("errorId").GetString());
        Assert.Contains("Sha256: hash differs", line.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(2, line.GetProperty("durationSeconds").GetDouble());
    }

    [Fact]
    public void A_failed_verification_after_a_backup_is_its_own_Verify_line()
    {
        using var folder = new TempFolder();
        var log = new AuditLog(Path.Combine(folder.Path, "audit.jsonl"));
        var trail = new AuditTrail(log, "New-PgBackup", _ => { });
        var backup = Backup();

        trail.RecordOutcome(backup);
        trail.RecordFailure(new BackupVerificationFailedException("failed verification", backup), backup);

        var lines = ReadLines(log.Path);
        Assert.Equal(["Backup", "Verify"], lines.Select(line => line.GetProperty("action").GetString()));
        Assert.Equal(["Succeeded", "Failed"], lines.Select(line => line.GetProperty("status").GetString()));
        Assert.Equal(12.5, lines[0].GetProperty("durationSeconds").GetDouble());
        Assert.Equal(4096, lines[0].GetProperty("bytes").GetInt64());
        Assert.Equal(backup.Id, lines[1].GetProperty("backupId").GetString());
        Assert.Equal("BackupVerificationFailed", lines[1].GetProperty("errorId").GetString());
    }

    [Fact]
    public void A_listing_is_one_line_with_its_count_written_when_it_completes()
    {
        using var folder = new TempFolder();
        var log = new AuditLog(Path.Combine(folder.Path, "audit.jsonl"));
        var trail = new AuditTrail(log, "Get-PgBackupInfo", _ => { }) { Repository = "/var/backups/pg" };

        trail.RecordOutcome(Backup("shop"));
        trail.RecordOutcome(Backup("billing"));
        Assert.False(File.Exists(log.Path));
        trail.Complete();

        var line = Assert.Single(ReadLines(log.Path));
        Assert.Equal("List", line.GetProperty("action").GetString());
        Assert.Equal(2, line.GetProperty("count").GetInt32());
        Assert.Equal("/var/backups/pg", line.GetProperty("repository").GetString());
    }

    [Fact]
    public void A_log_that_cannot_be_written_warns_once_and_never_throws()
    {
        using var folder = new TempFolder();
        var warnings = new List<string>();
        var trail = new AuditTrail(new AuditLog(Path.Combine(folder.Path, "missing", "audit.jsonl")), "New-PgBackup", warnings.Add);

        trail.RecordOutcome(Backup("shop"));
        trail.RecordFailure(new PgDumpFailedException("pg_dump failed"), "billing");
        trail.RecordOutcome(Backup("billing"));

        var warning = Assert.Single(warnings);
        Assert.Contains("audit log", warning, StringComparison.Ordinal);
    }

    [Fact]
    public void The_connection_password_is_masked_in_failure_messages()
    {
        using var folder = new TempFolder();
        var log = new AuditLog(Path.Combine(folder.Path, "audit.jsonl"));
        var trail = new AuditTrail(log, "New-PgBackup", _ => { });
        trail.AddSecret("Tr0ub4dor&3");

        trail.RecordFailure(new PgDumpFailedException("pg_dump: error: connection to server failed: password Tr0ub4dor&3"), "shop");

        Assert.DoesNotContain("Tr0ub4dor", File.ReadAllText(log.Path), StringComparison.Ordinal);
        Assert.Equal("shop", Assert.Single(ReadLines(log.Path)).GetProperty("database").GetString());
    }
}
