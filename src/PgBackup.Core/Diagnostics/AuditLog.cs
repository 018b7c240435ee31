using System.Text.Json;
using PgBackup.Backup;

namespace PgBackup.Diagnostics;

/// <summary>One line of the audit log: the outcome of one operation. Null fields are left out of the line.</summary>
internal sealed record AuditEntry
{
    /// <summary>The cmdlet that ran, e.g. New-PgBackup.</summary>
    public required string Operation { get; init; }

    /// <summary>What was done: Backup, Verify, Test, Restore, Remove or List.</summary>
    public required string Action { get; init; }

    /// <summary>Succeeded or Failed.</summary>
    public required string Status { get; init; }

    public string? BackupId { get; init; }

    public string? Database { get; init; }

    /// <summary>Database or Globals (the backup's Kind), where the outcome is about one backup.</summary>
    public string? Kind { get; init; }

    public string? Server { get; init; }

    public string? Repository { get; init; }

    /// <summary>The path or URI a cmdlet was given, when a failure is about it rather than about a known backup.</summary>
    public string? Location { get; init; }

    /// <summary>The stable ErrorId of a failure (the one the ErrorRecord carries).</summary>
    public string? ErrorId { get; init; }

    /// <summary>The failure's message (passed through the secret redactor before it is written).</summary>
    public string? Message { get; init; }

    public double? DurationSeconds { get; init; }

    /// <summary>Bytes stored (backup), read (test, restore) or freed (remove).</summary>
    public long? Bytes { get; init; }

    /// <summary>How many objects a listing returned.</summary>
    public int? Count { get; init; }
}

/// <summary>
/// The audit log: a file that any number of PgBackup processes append to, one JSON object per line
/// (JSON Lines), so a scheduled job leaves a machine-readable record of what happened.
/// <para>Concurrent writers: .NET's FileMode.Append only seeks to the end when the file is opened (it does not open
/// with O_APPEND), so two processes appending at once could overwrite each other's lines. Every line is therefore
/// written while holding a byte-range lock far beyond any real end of file — a cross-process mutex that never blocks
/// readers (tail, Get-Content) of the actual lines — after seeking to the current end, in one unbuffered write; within
/// one process, appenders also take turns on a process-wide lock. (macOS has no byte-range locks in .NET: there,
/// only writers within one process are serialised.)</para>
/// </summary>
internal sealed class AuditLog
{
    /// <summary>The variable that names the log when -LogPath is not given.</summary>
    public const string PathVariable = "PGBACKUP_LOG";

    // A lock on this one byte (never written: no log reaches 4 EiB) serialises the appenders of all processes.
    private const long MutexOffset = 1L << 62;
    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(30);

    // The byte-range lock is per process on Linux (fcntl): runspaces of one process (ForEach-Object -Parallel, thread
    // jobs) take turns here first.
    private static readonly object ProcessLock = new();

    public AuditLog(string path)
    {
        Path = path;
    }

    public string Path { get; }

    /// <summary>Appends one line for <paramref name="entry"/>, stamped with the time, host, user and version. Throws on I/O failure.</summary>
    public void Append(AuditEntry entry, SecretRedactor redactor, DateTime? timeUtc = null)
    {
        var line = Serialize(entry, redactor, timeUtc ?? DateTime.UtcNow);
        lock (ProcessLock)
        {
            using var stream = new FileStream(Path, new FileStreamOptions
            {
                Mode = FileMode.Append,
                Access = FileAccess.Write,
                // Readers, other appenders and log rotation (rename, delete) are all welcome while we hold the file.
                Share = FileShare.ReadWrite | FileShare.Delete,
                // Unbuffered: the line goes to the file in one write call.
                BufferSize = 0,
            });
            var locked = Lock(stream);
            try
            {
                stream.Seek(0, SeekOrigin.End);
                stream.Write(line);
            }
            finally
            {
                if (locked && !OperatingSystem.IsMacOS())
                {
                    stream.Unlock(MutexOffset, 1);
                }
            }
        }
    }

    /// <summary>The line (UTF-8, ending in '\n') for an entry: message and every text field passed through the redactor.</summary>
    public static byte[] Serialize(AuditEntry entry, SecretRedactor redactor, DateTime timeUtc)
    {
        void WriteText(Utf8JsonWriter writer, string name, string? value)
        {
            if (value is not null)
            {
                writer.WriteString(name, redactor.Redact(value));
            }
        }

        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("time", timeUtc.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));
            WriteText(writer, "operation", entry.Operation);
            WriteText(writer, "action", entry.Action);
            WriteText(writer, "status", entry.Status);
            WriteText(writer, "backupId", entry.BackupId);
            WriteText(writer, "database", entry.Database);
            WriteText(writer, "kind", entry.Kind);
            WriteText(writer, "server", entry.Server);
            WriteText(writer, "repository", entry.Repository);
            WriteText(writer, "location", entry.Location);
            WriteText(writer, "errorId", entry.ErrorId);
            WriteText(writer, "message", entry.Message);
            if (entry.DurationSeconds is { } duration)
            {
                writer.WriteNumber("durationSeconds", Math.Round(duration, 3));
            }

            if (entry.Bytes is { } bytes)
            {
                writer.WriteNumber("bytes", bytes);
            }

            if (entry.Count is { } count)
            {
                writer.WriteNumber("count", count);
            }

            WriteText(writer, "hostName", System.Environment.MachineName);
            WriteText(writer, "userName", System.Environment.UserName);
            writer.WriteNumber("processId", System.Environment.ProcessId);
            WriteText(writer, "version", ToolInfo.Version);
            writer.WriteEndObject();
        }

        // The JSON writer escapes control characters, so a message with newlines stays on its one line.
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    /// <summary>Takes the appenders' lock, waiting for other writers; false where the platform has no byte-range locks (macOS).</summary>
    private static bool Lock(FileStream stream)
    {
        if (OperatingSystem.IsMacOS())
        {
            return false;
        }

        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                stream.Lock(MutexOffset, 1);
                return true;
            }
            catch (IOException) when (waited.Elapsed < LockTimeout)
            {
                // Another process is writing its line: a line takes microseconds.
                Thread.Sleep(Random.Shared.Next(1, 5));
            }
        }
    }
}
