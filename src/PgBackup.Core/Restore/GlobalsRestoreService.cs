using System.Diagnostics;
using Npgsql;
using PgBackup.Catalog;
using PgBackup.Connection;
using PgBackup.Diagnostics;
using PgBackup.Errors;
using PgBackup.Server;
using PgBackup.Storage;
using PgBackup.Verification;

namespace PgBackup.Restore;

/// <summary>What applying a globals script did, statement by statement (shown redacted: no password hash).</summary>
internal sealed record GlobalsOutcome(IReadOnlyList<string> Created, IReadOnlyList<string> Skipped, IReadOnlyList<string> Failed, IReadOnlyList<string> Applied);

/// <summary>
/// Restores a Globals backup onto a server, statement by statement through <see cref="GlobalsScript"/> (only what
/// pg_dumpall --globals-only writes is run). Roles that already exist are left alone — only their memberships and
/// settings are merged —, the connecting role and postgres are never altered, a tablespace that exists is left
/// alone, and one statement's failure neither stops nor hides the others: the outcome lists what was created,
/// skipped and failed. With <c>rollback</c> everything runs inside one transaction that is rolled back (Test-PgBackup
/// -Level Restore); CREATE TABLESPACE cannot run in one and is then skipped.
/// </summary>
internal sealed class GlobalsRestoreService(IOperationLog? log = null, IProgress<OperationProgress>? progress = null)
{
    /// <summary>Far beyond any real globals script (a few KiB per role): read into memory only below this.</summary>
    private const long MaxScriptBytes = 64L * 1024 * 1024;

    private readonly IOperationLog _log = log ?? NullOperationLog.Instance;

    /// <summary>The backup's statements, read from a verified copy (size and SHA-256 checked before a byte is parsed).</summary>
    /// <param name="decryption">Opens an encrypted globals backup (null: none given).</param>
    public async Task<IReadOnlyList<GlobalsStatement>> ReadAsync(IBackupRepository repository, BackupInfo backup, Encryption.OpenPgpDecryption? decryption, CancellationToken cancellationToken)
    {
        if (backup.Kind != BackupKind.Globals)
        {
            throw new BackupNotRestorableException($"Backup {backup.Id} is a database backup, not a globals backup.", backup.Id);
        }

        await using var dump = await VerifiedDumpFile.DownloadAsync(repository, backup, decryption, progress, cancellationToken).ConfigureAwait(false);
        dump.EnsureRestorable(backup);
        return await ParseAsync(dump, backup, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The statements of a verified copy of a globals backup; UnsafeDump when it is not what pg_dumpall writes.</summary>
    public static async Task<IReadOnlyList<GlobalsStatement>> ParseAsync(VerifiedDumpFile dump, BackupInfo backup, CancellationToken cancellationToken)
    {
        if (new FileInfo(dump.Path).Length > MaxScriptBytes)
        {
            throw new UnsafeDumpException($"Backup {backup.Id} holds more than {ByteSize.Format(MaxScriptBytes)} of globals: not a script pg_dumpall wrote. Nothing was applied.", backup.Id);
        }

        var script = await File.ReadAllTextAsync(dump.Path, cancellationToken).ConfigureAwait(false);
        return GlobalsScript.Parse(script, $"Backup {backup.Id}");
    }

    /// <summary>Applies the statements to the server (to its maintenance database; globals are the server's).</summary>
    public async Task<GlobalsOutcome> ApplyAsync(PgConnectionSettings connection, IReadOnlyList<GlobalsStatement> statements, bool rollback, CancellationToken cancellationToken)
    {
        var redactor = new SecretRedactor([connection.Password]);
        await using var server = new PgServer(connection);
        await using var db = await server.OpenAsync(null, cancellationToken).ConfigureAwait(false);
        var roles = await ReadNamesAsync(db, "SELECT rolname FROM pg_roles", cancellationToken).ConfigureAwait(false);
        var tablespaces = await ReadNamesAsync(db, "SELECT spcname FROM pg_tablespace", cancellationToken).ConfigureAwait(false);
        var connecting = (await ReadNamesAsync(db, "SELECT current_user", cancellationToken).ConfigureAwait(false)).Single();
        var existingRoles = new HashSet<string>(roles, StringComparer.Ordinal);
        var existingTablespaces = new HashSet<string>(tablespaces, StringComparer.Ordinal);

        List<string> created = [], skipped = [], failed = [], applied = [];
        await using var transaction = rollback ? await db.BeginTransactionAsync(cancellationToken).ConfigureAwait(false) : null;
        foreach (var statement in statements)
        {
            if (SkipReason(statement, existingRoles, existingTablespaces, connecting, rollback) is { } reason)
            {
                skipped.Add($"{statement.Shown} ({reason})");
                continue;
            }

            try
            {
                if (transaction is not null)
                {
                    // A failed statement aborts a transaction: each runs in its own savepoint so the others still run.
                    await transaction.SaveAsync("pgbackup_statement", cancellationToken).ConfigureAwait(false);
                }

                await using (var command = new NpgsqlCommand(statement.Sql, db))
                {
                    await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }

                if (transaction is not null)
                {
                    await transaction.ReleaseAsync("pgbackup_statement", cancellationToken).ConfigureAwait(false);
                }

                applied.Add(statement.Shown);
                if (statement.Kind == GlobalsStatementKind.CreateRole)
                {
                    created.Add("role " + statement.Role);
                }
                else if (statement.Kind == GlobalsStatementKind.CreateTablespace)
                {
                    created.Add("tablespace " + statement.Tablespace);
                }
            }
            catch (PostgresException ex)
            {
                if (transaction is not null)
                {
                    await transaction.RollbackAsync("pgbackup_statement", cancellationToken).ConfigureAwait(false);
                }

                var message = $"{statement.Shown} (line {statement.Line}): {redactor.Redact(GlobalsScript.Redact(ex.MessageText))} ({ex.SqlState})";
                failed.Add(message);
                _log.Warning("Globals statement failed: " + message);
            }
        }

        if (transaction is not null)
        {
            await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
        }

        return new GlobalsOutcome(created, skipped, failed, applied);
    }

    /// <summary>Runs a whole globals restore and describes it as a RestoreResult.</summary>
    public async Task<RestoreResult> RestoreAsync(BackupInfo backup, IReadOnlyList<GlobalsStatement> statements, PgConnectionSettings connection, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        var outcome = await ApplyAsync(connection, statements, rollback: false, cancellationToken).ConfigureAwait(false);
        _log.Verbose($"Globals of {backup.Id} on {connection.ServerDisplay}: {outcome.Created.Count} created, {outcome.Applied.Count} statements applied, {outcome.Skipped.Count} skipped, {outcome.Failed.Count} failed.");
        return new RestoreResult
        {
            Backup = backup,
            Server = connection.ServerDisplay,
            TargetDatabase = BackupNaming.GlobalsDatabaseName,
            Created = outcome.Created,
            Skipped = outcome.Skipped,
            Failed = outcome.Failed,
            Duration = stopwatch.Elapsed,
        };
    }

    /// <summary>Why a statement is not run, or null to run it.</summary>
    private static string? SkipReason(GlobalsStatement statement, HashSet<string> existingRoles, HashSet<string> existingTablespaces, string connecting, bool inTransaction)
    {
        var protectedRole = statement.Role is { } role && (role == connecting || role == "postgres");
        return statement.Kind switch
        {
            // Npgsql speaks UTF-8 and must keep doing so.
            GlobalsStatementKind.SessionSetting when statement.Sql.Contains("client_encoding", StringComparison.OrdinalIgnoreCase) => "the connection's encoding stays UTF8",
            GlobalsStatementKind.SessionSetting => null,
            _ when protectedRole => $"role {statement.Role} is the connecting role or postgres, never altered",
            GlobalsStatementKind.CreateRole or GlobalsStatementKind.AlterRoleAttributes or GlobalsStatementKind.CommentOnRole when existingRoles.Contains(statement.Role!) => $"role {statement.Role} exists and is left alone",
            GlobalsStatementKind.CreateTablespace when inTransaction => "CREATE TABLESPACE cannot run inside the test's transaction",
            GlobalsStatementKind.CreateTablespace or GlobalsStatementKind.TablespaceDetail when existingTablespaces.Contains(statement.Tablespace!) => $"tablespace {statement.Tablespace} exists and is left alone",
            _ => null,
        };
    }

    private static async Task<List<string>> ReadNamesAsync(NpgsqlConnection db, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, db);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var names = new List<string>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }
}
