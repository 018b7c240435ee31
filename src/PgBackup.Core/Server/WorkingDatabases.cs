using System.Globalization;
using Npgsql;
using PgBackup.Diagnostics;

namespace PgBackup.Server;

/// <summary>A database a restore or test created for its own work, found on the server later.</summary>
/// <param name="Age">Since it was created, by the server's clock.</param>
/// <param name="InUse">Someone is connected to it (it may belong to a job still running).</param>
internal sealed record WorkingDatabase(string Name, TimeSpan Age, bool InUse);

/// <summary>
/// The databases PgBackup works in — a restore's <c>&lt;target&gt;_restoring_&lt;hex&gt;</c> staging database and a
/// test's <c>pgbackup_verify_…</c> — carry a <c>COMMENT ON DATABASE</c> saying so and when they were created,
/// by the server's clock. A process killed with SIGKILL cannot clean up after itself; the next restore or test on
/// that server finds what it left by this mark.
/// <para>
/// Why a comment rather than <c>pg_stat_file</c> on the database directory: the comment needs no superuser or
/// pg_read_server_files right, is set by the owner, survives restarts, moves with renames, and proves the
/// database is ours — a user's database that merely has <c>_restoring_</c> in its name is never touched. The
/// directory's times change with every write and say nothing about who made it. The mark is removed in the
/// same transaction that renames a finished staging database to its final name, and when a test database is
/// kept on purpose. A database killed between CREATE DATABASE and its COMMENT (one round trip) is not found.
/// </para>
/// </summary>
internal static class WorkingDatabases
{
    public const string MarkerPrefix = "pgbackup working database, created ";

    /// <summary>Younger leftovers may belong to a job still running elsewhere: they are left alone.</summary>
    public static readonly TimeSpan MinimumAge = TimeSpan.FromHours(1);

    private const string TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'";

    public static string Marker(DateTime createdUtc) => MarkerPrefix + createdUtc.ToString(TimestampFormat, CultureInfo.InvariantCulture);

    /// <summary>Creates a database (from template0, empty) and marks it as PgBackup's, with the server's time.</summary>
    public static async Task CreateMarkedAsync(DatabaseAdmin admin, string database, CancellationToken cancellationToken)
    {
        await admin.CreateAsync(database, cancellationToken).ConfigureAwait(false);
        await using var db = await admin.OpenMaintenanceAsync(cancellationToken).ConfigureAwait(false);
        DateTime now;
        await using (var clock = new NpgsqlCommand("SELECT now()", db))
        {
            now = ((DateTime)(await clock.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!).ToUniversalTime();
        }

        // The marker holds only digits, letters and punctuation of our own: no quoting issue in the literal.
        await using var comment = new NpgsqlCommand($"COMMENT ON DATABASE {DatabaseAdmin.QuoteIdentifier(database)} IS '{Marker(now)}'", db);
        await comment.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes the mark (e.g. inside the transaction that renames a finished staging database).</summary>
    public static async Task UnmarkAsync(NpgsqlConnection db, string database, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand($"COMMENT ON DATABASE {DatabaseAdmin.QuoteIdentifier(database)} IS NULL", db);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The marked databases with a name of ours on the server, with their age by the server's clock.</summary>
    public static async Task<IReadOnlyList<WorkingDatabase>> FindAsync(DatabaseAdmin admin, CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT d.datname, shobj_description(d.oid, 'pg_database'), now(),
                   EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname AND a.pid <> pg_backend_pid())
            FROM pg_database d
            WHERE starts_with(shobj_description(d.oid, 'pg_database'), $1)
              AND (starts_with(d.datname, $2) OR strpos(d.datname, $3) > 0)
            ORDER BY 1
            """;
        await using var db = await admin.OpenMaintenanceAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(sql, db)
        {
            Parameters = { new() { Value = MarkerPrefix }, new() { Value = Verification.TemporaryDatabaseName.Prefix }, new() { Value = Restore.RestoreNaming.StagingMarker } },
        };
        var found = new List<WorkingDatabase>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var stamp = reader.GetString(1)[MarkerPrefix.Length..];
            if (DateTime.TryParseExact(stamp, TimestampFormat, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var created))
            {
                found.Add(new WorkingDatabase(reader.GetString(0), reader.GetDateTime(2).ToUniversalTime() - created, reader.GetBoolean(3)));
            }
        }

        return found;
    }

    /// <summary>
    /// Warns about every leftover older than <see cref="MinimumAge"/> (name and age), and with
    /// <paramref name="drop"/> (-Force) drops it. Never throws for a leftover: cleaning up is not the job asked for.
    /// </summary>
    public static async Task ReportLeftoversAsync(DatabaseAdmin admin, string server, bool drop, IOperationLog log, CancellationToken cancellationToken)
    {
        IReadOnlyList<WorkingDatabase> found;
        try
        {
            found = await FindAsync(admin, cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException ex)
        {
            log.Verbose($"Could not look for leftover databases on {server}: {ex.Message}");
            return;
        }

        foreach (var leftover in found)
        {
            var age = FormatAge(leftover.Age);
            if (leftover.Age < MinimumAge)
            {
                log.Verbose($"\"{leftover.Name}\" on {server} is {age} old and may belong to a running restore or test: left alone.");
            }
            else if (leftover.InUse)
            {
                log.Warning($"Leftover database \"{leftover.Name}\" on {server} is {age} old but has sessions connected: left alone.");
            }
            else if (!drop)
            {
                log.Warning($"Leftover database \"{leftover.Name}\" on {server} is {age} old, from an interrupted restore or test: drop it with -Force or by hand.");
            }
            else
            {
                try
                {
                    await admin.DropIfExistsAsync(leftover.Name, cancellationToken).ConfigureAwait(false);
                    log.Warning($"Dropped leftover database \"{leftover.Name}\" on {server} ({age} old, from an interrupted restore or test).");
                }
                catch (Exception ex) when (ex is NpgsqlException or Errors.PgBackupException)
                {
                    log.Warning($"Could not drop leftover database \"{leftover.Name}\" on {server}: {ex.Message}");
                }
            }
        }
    }

    public static string FormatAge(TimeSpan age)
        => age.TotalHours >= 1
            ? string.Create(CultureInfo.InvariantCulture, $"{(int)age.TotalHours}h {age.Minutes:00}m")
            : string.Create(CultureInfo.InvariantCulture, $"{age.Minutes}m");
}
