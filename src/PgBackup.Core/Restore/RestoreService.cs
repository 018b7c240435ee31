using System.Diagnostics;
using System.Security.Cryptography;
using Npgsql;
using PgBackup.Artifacts;
using PgBackup.Diagnostics;
using PgBackup.Errors;
using PgBackup.PgTools;
using PgBackup.Server;
using PgBackup.Verification;

namespace PgBackup.Restore;

/// <summary>
/// Restores a backup into a new database, or replaces an existing one without ever risking it:
/// the backup is verified (checksum, a pg_restore that can read it) before anything is touched;
/// a replace restores into a staging database and swaps names only once that fully succeeded.
/// Any failure or cancellation before the swap drops what this service created and leaves the
/// live database exactly as it was.
/// </summary>
internal sealed class RestoreService
{
    // Cleanup must run even when the user pressed Ctrl+C, but not hang forever on a dead server.
    private static readonly TimeSpan CleanupTimeout = TimeSpan.FromSeconds(60);

    private readonly PgToolLocator _locator;
    private readonly IOperationLog _log;
    private readonly IProgress<OperationProgress>? _progress;
    private readonly TimeProvider _clock;

    public RestoreService(PgToolLocator? locator = null, IOperationLog? log = null, IProgress<OperationProgress>? progress = null, TimeProvider? clock = null)
    {
        _locator = locator ?? new PgToolLocator();
        _log = log ?? NullOperationLog.Instance;
        _progress = progress;
        _clock = clock ?? TimeProvider.System;
    }

    /// <summary>
    /// Decides what the restore will do (create or replace, and the names involved) without
    /// changing anything: this is what -WhatIf and the confirmation prompt describe.
    /// </summary>
    public async Task<RestorePlan> PlanAsync(RestoreRequest request, CancellationToken cancellationToken)
    {
        BackupArtifactReader.RequireArtifact(request.Backup);
        // A missing key or a wrong passphrase or private key is known before the server is asked anything.
        await BackupArtifactReader.EnsureDecryptableAsync(request.Repository, request.Backup, request.Decryption, cancellationToken).ConfigureAwait(false);
        var target = request.EffectiveTargetDatabase;
        if (RestoreNaming.ProblemWithDatabaseName(target) is { } problem)
        {
            throw new InvalidRestoreRequestException(problem, target);
        }

        await using var server = new PgServer(request.Connection);
        var admin = new DatabaseAdmin(server);
        var exists = await admin.ExistsAsync(target, cancellationToken).ConfigureAwait(false);
        return new RestorePlan
        {
            Server = request.Connection.ServerDisplay,
            TargetDatabase = target,
            TargetExists = exists,
            StagingDatabase = await FreeStagingNameAsync(admin, target, cancellationToken).ConfigureAwait(false),
            PreviousDatabase = exists ? RestoreNaming.PreviousName(target, _clock.GetUtcNow().UtcDateTime) : null,
            DropPrevious = request.DropPrevious,
        };
    }

    /// <summary>Plans and runs a restore in one go (no confirmation step).</summary>
    public async Task<RestoreResult> RunAsync(RestoreRequest request, CancellationToken cancellationToken)
        => await RunAsync(request, await PlanAsync(request, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);

    /// <summary>Runs a restore as planned (and confirmed) by <see cref="PlanAsync"/>.</summary>
    public async Task<RestoreResult> RunAsync(RestoreRequest request, RestorePlan plan, CancellationToken cancellationToken)
    {
        var stopwatch = Stopwatch.StartNew();
        var backup = request.Backup;
        // One pooled connection for this run's statements (version, create, swap, drop), not one per statement.
        await using var server = new PgServer(request.Connection);
        var tool = await FindRestoreToolAsync(request, server, cancellationToken).ConfigureAwait(false);
        // Verified in full before anything is touched, and restored from exactly the bytes that passed.
        _log.Verbose($"Verifying {request.Backup.Location} ({request.Backup.SizeBytes:N0} bytes) against its manifest's SHA-256.");
        await using var dump = await VerifiedDumpFile.DownloadAsync(request.Repository, backup, request.Decryption, _progress, cancellationToken).ConfigureAwait(false);
        dump.EnsureRestorable(backup);

        var admin = new DatabaseAdmin(server);
        await WorkingDatabases.ReportLeftoversAsync(admin, plan.Server, request.DropLeftovers, _log, cancellationToken).ConfigureAwait(false);

        // New target or replace, the backup is restored into a marked staging database and only a
        // finished restore gets the final name: a killed run leaves a staging database (which the next
        // run reports), never a half-restored database under the target's name. The staging name is
        // ours by construction (random, checked free), so it is cleaned up even when Ctrl+C lands while
        // CREATE DATABASE runs and we cannot tell whether it completed.
        var restoreInto = plan.StagingDatabase!;
        var created = true;
        try
        {
            _log.Verbose($"Creating database \"{restoreInto}\" on {plan.Server}.");
            await CreateDatabaseAsync(admin, restoreInto, cancellationToken).ConfigureAwait(false);
            await RestoreIntoAsync(request, tool, dump, admin, restoreInto, cancellationToken).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            if (!plan.TargetExists)
            {
                await RenameIntoPlaceAsync(plan, server).ConfigureAwait(false);
                created = false;
                return Result(request, plan, replaced: false, previous: null, stopwatch);
            }

            var previous = await SwapAsync(plan, server, admin).ConfigureAwait(false);
            created = false;
            // The restore has succeeded by now: a failed drop of the previous database only warns and keeps its name.
            if (request.DropPrevious && await TryDropAsync(admin, previous).ConfigureAwait(false) is null)
            {
                previous = null;
            }

            return Result(request, plan, replaced: true, previous, stopwatch);
        }
        catch (Exception ex) when (created)
        {
            var leftOver = await TryDropAsync(admin, restoreInto).ConfigureAwait(false) is { } dropFailure
                ? $" The database \"{restoreInto}\" it created could not be dropped ({dropFailure}); drop it by hand."
                : string.Empty;
            if (ex is OperationCanceledException || (ex is PgBackupException && ex is not RestoreFailedException && leftOver.Length == 0))
            {
                throw;
            }

            var message = ex.Message + (plan.TargetExists ? $" The database \"{plan.TargetDatabase}\" was not changed." : string.Empty) + leftOver;
            throw new RestoreFailedException(message, plan.TargetDatabase, ex);
        }
    }

    private static RestoreResult Result(RestoreRequest request, RestorePlan plan, bool replaced, string? previous, Stopwatch stopwatch) => new()
    {
        Backup = request.Backup,
        Server = plan.Server,
        TargetDatabase = plan.TargetDatabase,
        Replaced = replaced,
        PreviousDatabase = previous,
        Duration = stopwatch.Elapsed,
    };

    /// <summary>
    /// pg_restore (psql for plain dumps) that can read this archive on this server: at least as new
    /// as the server, and at least as new as the pg_dump that wrote the archive — an older
    /// pg_restore refuses a newer archive format ("unsupported version in file header").
    /// </summary>
    private async Task<PgTool> FindRestoreToolAsync(RestoreRequest request, PgServer server, CancellationToken cancellationToken)
    {
        var backup = request.Backup;
        PgToolVersion serverVersion;
        await using (var db = await server.OpenAsync(new DatabaseAdmin(server).MaintenanceDatabase, cancellationToken).ConfigureAwait(false))
        {
            serverVersion = await PgServerConnection.GetServerVersionAsync(db, cancellationToken).ConfigureAwait(false);
        }

        var dumpMajor = PgToolVersion.TryParse("(PostgreSQL) " + backup.PgDumpVersion)?.Major ?? 0;
        var toolName = PgRestoreArguments.ToolFor(backup.Format);
        try
        {
            var tool = await _locator.FindAsync(toolName, Math.Max(serverVersion.Major, dumpMajor), cancellationToken).ConfigureAwait(false);
            _log.Verbose($"Server {serverVersion.Text}; backup written by pg_dump {backup.PgDumpVersion}; using {tool.Path} ({tool.Version.Text}).");
            return tool;
        }
        catch (PgToolVersionMismatchException ex) when (dumpMajor > serverVersion.Major)
        {
            throw new BackupNotRestorableException(
                $"Backup {backup.Id} was written by pg_dump {backup.PgDumpVersion}; reading it needs {toolName} {dumpMajor} or later, " +
                $"and restoring it into PostgreSQL {serverVersion.Text} may need a newer server too. {ex.Message}",
                backup.Id);
        }
    }

    private static async Task CreateDatabaseAsync(DatabaseAdmin admin, string database, CancellationToken cancellationToken)
    {
        try
        {
            await WorkingDatabases.CreateMarkedAsync(admin, database, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.DuplicateDatabase)
        {
            throw new RestoreFailedException($"The database \"{database}\" appeared on the server while the restore was being prepared; nothing was changed.", database, ex);
        }
        catch (PostgresException ex)
        {
            throw new RestoreFailedException($"Cannot create the database \"{database}\": {ex.MessageText} ({ex.SqlState}).", database, ex);
        }
    }

    private async Task RestoreIntoAsync(RestoreRequest request, PgTool tool, VerifiedDumpFile dump, DatabaseAdmin admin, string database, CancellationToken cancellationToken)
    {
        var backup = request.Backup;
        var jobs = EffectiveJobs(request);
        if (request.NoOwner && backup.Format == BackupFormat.Plain)
        {
            _log.Warning($"Backup {backup.Id} is a plain SQL dump: its ownership commands are part of the SQL, so -NoOwner cannot apply.");
        }

        var connection = request.Connection with { Database = database };
        var redactor = new SecretRedactor([connection.Password]);
        // Bytes fed are pg_dump's output: the stored size is their total only when PgBackup did not compress them.
        var activity = $"Restoring {backup.Id} into \"{database}\"";
        var fed = new RestoreProgress(_progress, activity, tool.Name, backup.CompressionStage == CompressionStage.Stream ? null : backup.SizeBytes);
        PgRunOutcome outcome;
        if (jobs > 1 || backup.Format == BackupFormat.Directory)
        {
            // pg_restore -j needs to seek in the archive, and a directory dump is a folder: it reads the verified copy itself.
            _log.Verbose($"Running {tool.Name} with {jobs} jobs from {dump.ArchivePath}.");
            var arguments = PgRestoreArguments.ForRestore(backup.Format, new PgRestoreOptions { TargetDatabase = database, NoOwner = request.NoOwner, Jobs = jobs, ArchivePath = dump.ArchivePath });
            outcome = await RestoreProgress.WhileFillingAsync(_progress, admin, database, activity, () => PgRestoreRunner.RunAsync(tool, arguments, connection, input: null, redactor, cancellationToken)).ConfigureAwait(false);
        }
        else
        {
            _log.Verbose($"Feeding the verified copy of {backup.Location} to {tool.Name}.");
            await using var input = dump.OpenRead();
            var arguments = PgRestoreArguments.ForRestore(backup.Format, new PgRestoreOptions { TargetDatabase = database, NoOwner = request.NoOwner });
            outcome = await PgRestoreRunner.RunAsync(tool, arguments, connection, input, redactor, cancellationToken, fed).ConfigureAwait(false);
        }

        if (!outcome.Succeeded)
        {
            var hint = !request.NoOwner && outcome.StandardError.Contains("role", StringComparison.Ordinal) && outcome.StandardError.Contains("does not exist", StringComparison.Ordinal)
                ? " The backup names roles this server lacks: create them, or restore with -NoOwner."
                : string.Empty;
            throw new RestoreFailedException($"{tool.Name} failed restoring backup {backup.Id} (exit code {outcome.ExitCode}): {outcome.StandardError}{hint}", database);
        }
    }

    private int EffectiveJobs(RestoreRequest request)
    {
        if (request.Jobs <= 1)
        {
            return 1;
        }

        if (request.Backup.Format is BackupFormat.Custom or BackupFormat.Directory)
        {
            return request.Jobs;
        }

        _log.Warning($"Backup {request.Backup.Id} is in {request.Backup.Format} format, which restores with one job only; -Jobs {request.Jobs} is ignored.");
        return 1;
    }

    /// <summary>Swaps the staging database in; returns the name the replaced database now has.</summary>
    private async Task<string> SwapAsync(RestorePlan plan, PgServer server, DatabaseAdmin admin)
    {
        // The swap is short and all-or-nothing: it is not interrupted halfway by Ctrl+C, only bounded.
        using var timeout = new CancellationTokenSource(CleanupTimeout);
        var swappedAt = _clock.GetUtcNow().UtcDateTime;
        var previous = RestoreNaming.PreviousName(plan.TargetDatabase, swappedAt);
        for (var attempt = 2; await admin.ExistsAsync(previous, timeout.Token).ConfigureAwait(false); attempt++)
        {
            previous = RestoreNaming.PreviousName(plan.TargetDatabase, swappedAt, attempt);
        }

        _log.Verbose($"Disconnecting \"{plan.TargetDatabase}\" and swapping names: \"{plan.TargetDatabase}\" -> \"{previous}\", \"{plan.StagingDatabase}\" -> \"{plan.TargetDatabase}\".");
        try
        {
            await DatabaseSwap.SwapAsync(server, plan.TargetDatabase, plan.StagingDatabase!, previous, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or OperationCanceledException)
        {
            throw new RestoreFailedException($"The restored copy could not be swapped in for \"{plan.TargetDatabase}\": {ex.Message}", plan.TargetDatabase, ex);
        }

        return previous;
    }

    /// <summary>Gives the finished staging database of a new restore the target's name.</summary>
    private async Task RenameIntoPlaceAsync(RestorePlan plan, PgServer server)
    {
        // Short and all-or-nothing like the swap: bounded, not interrupted halfway by Ctrl+C.
        using var timeout = new CancellationTokenSource(CleanupTimeout);
        _log.Verbose($"Renaming \"{plan.StagingDatabase}\" to \"{plan.TargetDatabase}\".");
        try
        {
            await DatabaseSwap.RenameIntoPlaceAsync(server, plan.StagingDatabase!, plan.TargetDatabase, timeout.Token).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.DuplicateDatabase)
        {
            throw new RestoreFailedException($"The database \"{plan.TargetDatabase}\" appeared on the server while the backup was being restored; it was not changed.", plan.TargetDatabase, ex);
        }
        catch (Exception ex) when (ex is NpgsqlException or OperationCanceledException)
        {
            throw new RestoreFailedException($"The restored database could not be renamed to \"{plan.TargetDatabase}\": {ex.Message}", plan.TargetDatabase, ex);
        }
    }

    /// <summary>
    /// Drops a database even when the user pressed Ctrl+C (bounded by a timeout); returns why it
    /// could not, or null when it is gone.
    /// </summary>
    private async Task<string?> TryDropAsync(DatabaseAdmin admin, string database)
    {
        using var timeout = new CancellationTokenSource(CleanupTimeout);
        try
        {
            _log.Verbose($"Dropping \"{database}\".");
            await admin.DropIfExistsAsync(database, timeout.Token).ConfigureAwait(false);
            return null;
        }
        catch (Exception ex) when (ex is NpgsqlException or PgBackupException or OperationCanceledException)
        {
            _log.Warning($"Could not drop the database \"{database}\": {ex.Message}");
            return ex.Message;
        }
    }

    private static async Task<string> FreeStagingNameAsync(DatabaseAdmin admin, string target, CancellationToken cancellationToken)
    {
        while (true)
        {
            var name = RestoreNaming.StagingName(target, Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant());
            if (!await admin.ExistsAsync(name, cancellationToken).ConfigureAwait(false))
            {
                return name;
            }
        }
    }
}
