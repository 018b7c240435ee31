using System.Diagnostics;
using PgBackup.Diagnostics;
using PgBackup.Errors;
using PgBackup.PgTools;
using PgBackup.Artifacts;
using PgBackup.Server;

namespace PgBackup.Verification;

/// <summary>
/// Tests a backup at one of three levels, each including the ones before it:
/// <list type="bullet">
/// <item>Checksum — size and SHA-256 of the stored bytes against the manifest, streamed; when PgBackup
/// compressed the stream, the frames must decode to their end.</item>
/// <item>Structure — the format header, <c>pg_restore --list</c> (or a plain dump's comments and
/// footer), and the tables against the manifest's row counts. One read feeds pg_restore and the hash.</item>
/// <item>Restore — a real restore into <c>pgbackup_verify_&lt;db&gt;_&lt;random&gt;</c> (the checksum is verified
/// in the same read that feeds pg_restore), then every table exists and row counts match; the
/// temporary database is dropped afterwards — on failure and on cancellation too — unless kept.</item>
/// </list>
/// Findings about the backup become failed checks in the <see cref="TestResult"/>; only problems of the
/// test itself (unreachable repository or server, missing tools, a missing or wrong key) are thrown. An encrypted
/// backup is opened (its session key decrypted) as its first read starts, so a missing or wrong key fails before
/// pg_restore runs or the Restore level creates its database.
/// </summary>
internal sealed class BackupVerifier
{
    private static readonly TimeSpan CleanupTimeout = TimeSpan.FromSeconds(60);

    private readonly PgToolLocator _locator;
    private readonly IOperationLog _log;
    private readonly IProgress<OperationProgress>? _progress;

    public BackupVerifier(PgToolLocator? locator = null, IOperationLog? log = null, IProgress<OperationProgress>? progress = null)
    {
        _locator = locator ?? new PgToolLocator();
        _log = log ?? NullOperationLog.Instance;
        _progress = progress;
    }

    /// <summary>Raised (for tests and progress) once the temporary database of a Restore-level test exists.</summary>
    public event Action<string>? TemporaryDatabaseCreated;

    public async Task<TestResult> VerifyAsync(VerificationRequest request, CancellationToken cancellationToken)
    {
        var backup = request.Backup;
        if (request.Level == TestLevel.Restore && request.Connection is null)
        {
            throw new ArgumentException("The Restore level needs a server connection.", nameof(request));
        }

        var stopwatch = Stopwatch.StartNew();
        var checks = new List<TestCheck>();
        string? temporaryDatabase = null;
        if (request.TrustedSigningKeys is { } trusted)
        {
            // Before anything else is read or touched: from here on only the signed manifest's word counts.
            try
            {
                (backup, var signature) = await Encryption.ManifestSignatures.ReadTrustedAsync(request.Repository, backup.ManifestKey, trusted, cancellationToken).ConfigureAwait(false);
                request = request with { Backup = backup };
                checks.Add(new TestCheck(VerificationChecks.Signature, true,
                    FormattableString.Invariant($"the manifest is signed by trusted key {signature.KeyFingerprint} (signing key {signature.SigningKeyFingerprint}, {signature.SignedAt:yyyy-MM-dd HH:mm:ss}Z)")));
            }
            catch (SignatureInvalidException ex)
            {
                checks.Add(new TestCheck(VerificationChecks.Signature, false, ex.Message));
                return Result(request, checks, stopwatch, temporaryDatabase: null);
            }
        }

        BackupArtifactReader.RequireArtifact(backup);
        _log.Verbose($"Testing {backup.Id} ({backup.Format}, {backup.SizeBytes:N0} bytes) at level {request.Level}: {backup.Location}");
        switch (request.Level)
        {
            case TestLevel.Structure or TestLevel.Restore when backup.Kind == BackupKind.Globals:
                await CheckGlobalsAsync(request, checks, cancellationToken).ConfigureAwait(false);
                break;
            case TestLevel.Checksum:
                await CheckChecksumAsync(request, checks, cancellationToken).ConfigureAwait(false);
                break;
            case TestLevel.Structure:
                await CheckStructureAsync(request, checks, cancellationToken).ConfigureAwait(false);
                break;
            case TestLevel.Restore:
                temporaryDatabase = await CheckRestoreAsync(request, checks, cancellationToken).ConfigureAwait(false);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(request), request.Level, "Unknown test level.");
        }

        return Result(request, checks, stopwatch, temporaryDatabase);
    }

    private TestResult Result(VerificationRequest request, List<TestCheck> checks, Stopwatch stopwatch, string? temporaryDatabase)
    {
        stopwatch.Stop();
        var result = new TestResult
        {
            Backup = request.Backup,
            Level = request.Level,
            Checks = checks,
            Duration = stopwatch.Elapsed,
            TemporaryDatabase = temporaryDatabase,
            TemporaryDatabaseKept = temporaryDatabase is not null && request.KeepDatabase,
        };
        foreach (var check in checks)
        {
            _log.Verbose(check.ToString());
        }

        return result;
    }

    private async Task CheckChecksumAsync(VerificationRequest request, List<TestCheck> checks, CancellationToken cancellationToken)
    {
        await using var pass = await OpenPassAsync(request, "Checking", cancellationToken).ConfigureAwait(false);
        var read = await pass.FinishAsync(cancellationToken).ConfigureAwait(false);
        checks.AddRange(VerificationChecks.Checksum(request.Backup, read));
    }

    private async Task CheckStructureAsync(VerificationRequest request, List<TestCheck> checks, CancellationToken cancellationToken)
    {
        var backup = request.Backup;
        var pgRestore = IsArchive(backup) ? await FindToolAsync("pg_restore", backup, cancellationToken).ConfigureAwait(false) : null;
        if (backup.Format == BackupFormat.Directory)
        {
            // pg_restore lists a directory dump only as a folder: verified, then unpacked privately.
            await using var unpacked = await VerifiedDumpFile.DownloadAsync(request.Repository, backup, request.Decryption, _progress, cancellationToken).ConfigureAwait(false);
            checks.AddRange(unpacked.Checksum);
            var folderListing = unpacked.ChecksumPassed ? await ListFolderAsync(pgRestore!, unpacked, cancellationToken).ConfigureAwait(false) : null;
            checks.AddRange(Structure(backup, unpacked.Head, null, folderListing, unpacked.UnsafeTar?.Message).Checks);
            return;
        }

        await using var pass = await OpenPassAsync(request, "Checking the structure of", cancellationToken).ConfigureAwait(false);
        var listing = pgRestore is null ? null : await pass.ConsumeAsync(dump => ListAsync(pgRestore, dump, cancellationToken)).ConfigureAwait(false);
        // pg_restore --list stops after the table of contents: the rest is read here, through the hash.
        var read = await pass.FinishAsync(cancellationToken).ConfigureAwait(false);
        checks.AddRange(VerificationChecks.Checksum(backup, read));
        checks.AddRange(Structure(backup, pass.Head, pass.Plain, listing, pass.ReadFailure).Checks);
    }

    /// <summary>
    /// A Globals backup: Structure parses it (only what pg_dumpall --globals-only writes passes); Restore also applies
    /// it to the given server inside one transaction that is rolled back (existing roles left alone, as a restore does;
    /// CREATE TABLESPACE cannot run in a transaction and is skipped).
    /// </summary>
    private async Task CheckGlobalsAsync(VerificationRequest request, List<TestCheck> checks, CancellationToken cancellationToken)
    {
        var backup = request.Backup;
        await using var dump = await VerifiedDumpFile.DownloadAsync(request.Repository, backup, request.Decryption, _progress, cancellationToken).ConfigureAwait(false);
        checks.AddRange(dump.Checksum);
        if (!dump.ChecksumPassed)
        {
            return;
        }

        IReadOnlyList<Restore.GlobalsStatement> statements;
        try
        {
            statements = await Restore.GlobalsRestoreService.ParseAsync(dump, backup, cancellationToken).ConfigureAwait(false);
        }
        catch (UnsafeDumpException ex)
        {
            checks.Add(new TestCheck(VerificationChecks.GlobalsStatements, false, ex.Message));
            return;
        }

        var roles = statements.Count(s => s.Kind == Restore.GlobalsStatementKind.CreateRole);
        var memberships = statements.Count(s => s.Kind == Restore.GlobalsStatementKind.GrantRole);
        checks.Add(new TestCheck(VerificationChecks.GlobalsStatements, true, $"{statements.Count} statements pg_dumpall writes: {roles} roles, {memberships} memberships"));
        if (request.Level != TestLevel.Restore)
        {
            return;
        }

        var outcome = await new Restore.GlobalsRestoreService(_log, _progress).ApplyAsync(request.Connection!, statements, rollback: true, cancellationToken).ConfigureAwait(false);
        checks.Add(new TestCheck(
            VerificationChecks.GlobalsApplied,
            outcome.Failed.Count == 0,
            outcome.Failed.Count == 0
                ? $"{outcome.Applied.Count} statements ran on {request.Connection!.ServerDisplay} and were rolled back; {outcome.Skipped.Count} skipped"
                : $"{outcome.Failed.Count} failed: {string.Join("; ", outcome.Failed)}"));
    }

    /// <returns>The temporary database's name.</returns>
    private async Task<string?> CheckRestoreAsync(VerificationRequest request, List<TestCheck> checks, CancellationToken cancellationToken)
    {
        var backup = request.Backup;
        var connection = request.Connection!;
        var tool = await FindToolAsync(PgRestoreArguments.ToolFor(backup.Format), backup, cancellationToken).ConfigureAwait(false);

        // Nothing reaches pg_restore or psql before the checksum is known: the dump is verified into a
        // private file first, and restored from exactly the bytes that passed.
        await using var dump = await VerifiedDumpFile.DownloadAsync(request.Repository, backup, request.Decryption, _progress, cancellationToken).ConfigureAwait(false);
        checks.AddRange(dump.Checksum);
        if (!dump.ChecksumPassed)
        {
            _log.Verbose("The backup does not match its manifest: nothing restored.");
            return null;
        }

        // Archives: pg_restore --list must parse the table of contents before anything is restored from it.
        PgRunOutcome? listing = null;
        if (backup.Format == BackupFormat.Directory)
        {
            listing = await ListFolderAsync(tool, dump, cancellationToken).ConfigureAwait(false);
        }
        else if (IsArchive(backup))
        {
            await using var file = dump.OpenRead();
            listing = await ListAsync(tool, file, cancellationToken).ConfigureAwait(false);
        }

        var structure = Structure(backup, dump.Head, dump.Plain, listing, dump.UnsafeTar?.Message);
        checks.AddRange(structure.Checks);
        if (dump.Plain?.UnsafeCommand is { } unsafeCommand)
        {
            checks.Add(new TestCheck(VerificationChecks.PsqlCommands, false, $"refused before psql started: {unsafeCommand}"));
            _log.Verbose("The plain dump holds psql commands pg_dump does not write: nothing restored.");
            return null;
        }

        if (IsArchive(backup) && listing is not { Succeeded: true })
        {
            _log.Verbose("The archive's table of contents does not parse: nothing restored.");
            return null;
        }

        var temporaryDatabase = TemporaryDatabaseName.Create(backup.Database);
        await using var server = new PgServer(connection);
        var admin = new DatabaseAdmin(server);
        var redactor = new SecretRedactor([connection.Password]);
        await WorkingDatabases.ReportLeftoversAsync(admin, connection.ServerDisplay, request.DropLeftovers, _log, cancellationToken).ConfigureAwait(false);
        try
        {
            _log.Verbose($"Creating the temporary database {temporaryDatabase} on {connection.ServerDisplay}.");
            try
            {
                // Marked as ours: if this process is killed, the next test or restore on this server reports it.
                await WorkingDatabases.CreateMarkedAsync(admin, temporaryDatabase, cancellationToken).ConfigureAwait(false);
            }
            catch (Npgsql.PostgresException ex)
            {
                // E.g. no CREATEDB privilege: a problem of the test's server, not a finding about the backup.
                throw new RestoreFailedException($"Cannot create the temporary database {temporaryDatabase} on {connection.ServerDisplay}: {redactor.Redact(ex.MessageText)} ({ex.SqlState})", backup.Id, ex);
            }

            TemporaryDatabaseCreated?.Invoke(temporaryDatabase);

            // Owners and grants of the source need not exist here: the test is about the data.
            // A directory dump is read from its unpacked folder; every other format through stdin.
            var folder = backup.Format == BackupFormat.Directory ? dump.ArchivePath : null;
            var arguments = PgRestoreArguments.ForRestore(backup.Format, new PgRestoreOptions { TargetDatabase = temporaryDatabase, NoOwner = true, ArchivePath = folder });
            PgRunOutcome outcome;
            await using (var file = folder is null ? dump.OpenRead() : null)
            {
                outcome = await Restore.RestoreProgress.WhileFillingAsync(
                    _progress,
                    admin,
                    temporaryDatabase,
                    $"Restoring {backup.Id} into the temporary database {temporaryDatabase}",
                    () => PgRestoreRunner.RunAsync(tool, arguments, connection, file, redactor, cancellationToken)).ConfigureAwait(false);
            }

            checks.Add(VerificationChecks.RestoreRun(tool.Name, temporaryDatabase, outcome, readFailure: null));

            if (outcome is { Succeeded: true })
            {
                await using var db = await server.OpenAsync(temporaryDatabase, cancellationToken).ConfigureAwait(false);
                var restored = await DatabaseAdmin.ListTablesAsync(db, cancellationToken).ConfigureAwait(false);
                checks.Add(VerificationChecks.TablesPresent(structure.Tables, restored));
                if (backup.RowCounts is { } expected)
                {
                    var counted = await DatabaseAdmin.CountRowsAsync(db, restored.Where(t => expected.ContainsKey(t.Key)), cancellationToken).ConfigureAwait(false);
                    checks.Add(VerificationChecks.RowCountsMatch(expected, counted));
                }
            }
        }
        finally
        {
            if (request.KeepDatabase)
            {
                await KeepTemporaryDatabaseAsync(admin, temporaryDatabase).ConfigureAwait(false);
            }
            else
            {
                await DropTemporaryDatabaseAsync(admin, temporaryDatabase).ConfigureAwait(false);
            }
        }

        return temporaryDatabase;
    }

    /// <summary>A database kept on purpose is no leftover: its working mark goes.</summary>
    private async Task KeepTemporaryDatabaseAsync(DatabaseAdmin admin, string database)
    {
        try
        {
            using var timeout = new CancellationTokenSource(CleanupTimeout);
            await using var db = await admin.OpenMaintenanceAsync(timeout.Token).ConfigureAwait(false);
            await WorkingDatabases.UnmarkAsync(db, database, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is PgBackupException or Npgsql.NpgsqlException or OperationCanceledException)
        {
            _log.Verbose($"Could not unmark the kept database {database}: {ex.Message}");
        }

        _log.Verbose($"Keeping the temporary database {database} (-KeepDatabase): drop it when done.");
    }

    /// <summary>Drops the temporary database with a token of its own: this runs on failure and cancellation too.</summary>
    private async Task DropTemporaryDatabaseAsync(DatabaseAdmin admin, string database)
    {
        try
        {
            using var timeout = new CancellationTokenSource(CleanupTimeout);
            await admin.DropIfExistsAsync(database, timeout.Token).ConfigureAwait(false);
            _log.Verbose($"Dropped the temporary database {database}.");
        }
        catch (Exception ex) when (ex is PgBackupException or Npgsql.NpgsqlException or OperationCanceledException)
        {
            _log.Warning($"Could not drop the temporary database {database}: {ex.Message} Drop it by hand.");
        }
    }

    private sealed record StructureFindings(IReadOnlyList<TestCheck> Checks, IReadOnlyList<TableName> Tables);

    /// <summary>Header, table of contents and the tables against the manifest, from what a pass saw.</summary>
    private static StructureFindings Structure(BackupInfo backup, ReadOnlySpan<byte> head, PlainDumpScanner? plain, PgRunOutcome? listing, string? readFailure)
    {
        var checks = new List<TestCheck> { DumpHeader.Check(backup.Format, head) };
        TestCheck contents;
        IReadOnlyList<TableName> tables;
        if (plain is not null)
        {
            contents = VerificationChecks.PlainContents(plain);
            tables = plain.Tables;
        }
        else
        {
            contents = VerificationChecks.ArchiveList(listing, readFailure);
            tables = listing is { Succeeded: true } ? DumpedTables.FromToc(ArchiveToc.Parse(listing.StandardOutput)) : [];
        }

        checks.Add(contents);
        if (contents.Passed && backup.RowCounts is { } rowCounts)
        {
            checks.Add(VerificationChecks.TablesAgainstManifest(tables, rowCounts));
        }

        return new StructureFindings(checks, tables);
    }

    private static bool IsArchive(BackupInfo backup) => backup.Format != BackupFormat.Plain;

    /// <summary>A read of the backup; Checksum reads an encrypted one without a key as ciphertext, every other level decrypts.</summary>
    private Task<ArtifactReadPass> OpenPassAsync(VerificationRequest request, string activity, CancellationToken cancellationToken)
        => ArtifactReadPass.OpenAsync(
            request.Repository,
            request.Backup,
            request.Level == TestLevel.Checksum ? request.Decryption : request.Decryption ?? Encryption.OpenPgpDecryption.None,
            _progress,
            $"{activity} {request.Backup.Id}",
            cancellationToken);

    private static Task<PgRunOutcome> ListAsync(PgTool pgRestore, Stream dump, CancellationToken cancellationToken)
        => PgRestoreRunner.RunAsync(pgRestore, PgRestoreArguments.ForList(), connection: null, dump, SecretRedactor.None, cancellationToken);

    /// <summary>pg_restore --list of a directory dump's unpacked folder; null when its tar was refused.</summary>
    private static async Task<PgRunOutcome?> ListFolderAsync(PgTool pgRestore, VerifiedDumpFile dump, CancellationToken cancellationToken)
        => dump.Folder is null || dump.UnsafeTar is not null
            ? null
            : await PgRestoreRunner.RunAsync(pgRestore, PgRestoreArguments.ForList(dump.Folder), connection: null, input: null, SecretRedactor.None, cancellationToken).ConfigureAwait(false);

    /// <summary>pg_restore/psql at least as new as the pg_dump that wrote the archive (older ones refuse newer archives).</summary>
    private Task<PgTool> FindToolAsync(string tool, BackupInfo backup, CancellationToken cancellationToken)
    {
        var archiveMajor = PgToolVersion.TryParse("(PostgreSQL) " + backup.PgDumpVersion)?.Major ?? 0;
        return _locator.FindAsync(tool, archiveMajor, cancellationToken);
    }
}
