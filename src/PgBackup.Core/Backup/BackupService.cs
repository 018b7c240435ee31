using System.Diagnostics;
using Npgsql;
using PgBackup.Catalog;
using PgBackup.Diagnostics;
using PgBackup.Errors;
using PgBackup.PgTools;
using PgBackup.Server;
using PgBackup.Storage;
using PgBackup.Streaming;

namespace PgBackup.Backup;

/// <summary>
/// Runs one backup: pg_dump's stdout streams through the compression stage (when PgBackup
/// compresses) and SHA-256 straight into the repository, the stages running concurrently
/// (<see cref="DumpPipeline"/>) — no temporary copy, memory bounded by a few chunks. A directory-format
/// dump is the exception: pg_dump -j writes a private temporary folder, which then streams in as a tar. The manifest is written last and is the commit marker; a failure leaves no
/// artifact and records a Failed manifest so success rates are measurable.
/// </summary>
internal sealed class BackupService
{
    /// <summary>The progress status while pg_dump -Fd writes its folder ("12.0 MiB written by pg_dump").</summary>
    internal const string FolderWrittenStatus = "written by pg_dump";

    /// <summary>The progress status while the finished folder goes into the repository ("30.0 MiB stored of 35.5 MiB").</summary>
    internal const string FolderStoredStatus = "stored";

    /// <summary>How long a manifest's signature may take to be written once the backup committed (not cancellable).</summary>
    private static readonly TimeSpan SignatureTimeout = TimeSpan.FromSeconds(30);

    private readonly PgToolLocator _locator;
    private readonly IOperationLog _log;
    private readonly IProgress<OperationProgress>? _progress;
    private readonly TimeProvider _clock;
    private readonly Func<string>? _nameSuffix;

    public BackupService(PgToolLocator? locator = null, IOperationLog? log = null, IProgress<OperationProgress>? progress = null, TimeProvider? clock = null, Func<string>? nameSuffix = null)
    {
        _nameSuffix = nameSuffix;
        _locator = locator ?? new PgToolLocator();
        _log = log ?? NullOperationLog.Instance;
        _progress = progress;
        _clock = clock ?? TimeProvider.System;
    }

    public async Task<BackupInfo> RunAsync(BackupRequest request, CancellationToken cancellationToken)
    {
        if (request.Kind == BackupKind.Globals)
        {
            // pg_dumpall writes globals only as a script: nothing else about the dump can be chosen.
            request = request with { Format = BackupFormat.Plain, SchemaOnly = false, RowCounts = false, Jobs = 1 };
        }

        var repository = request.Repository;
        var connection = request.Connection with { Database = request.Database };
        var redactor = new SecretRedactor([connection.Password]);
        var startedAt = _clock.GetUtcNow().UtcDateTime;
        var id = NewId(request, startedAt);
        // The key is fixed before we know which compression stage applies; the extension follows the plan.
        var plan = CompressionPlan.For(request.Format, request.Compression, request.CompressionLevel, pgDumpMajor: null);
        var artifactKey = BackupNaming.ArtifactKey(id, startedAt, BackupNaming.Extension(request.Format, plan.StreamCompression, request.Encryption is not null));
        var stopwatch = Stopwatch.StartNew();

        // A repository we cannot write to cannot take a Failed manifest either: just report.
        await repository.EnsureWritableAsync(cancellationToken).ConfigureAwait(false);

        string? serverVersionText = null;
        string? pgDumpVersionText = null;
        IArtifactUpload? upload = null;
        long? storedBytes = null;
        (BackupManifest Manifest, string Key, byte[] Bytes) committed;
        await using var server = new PgServer(connection);
        try
        {
            _log.Verbose($"Connecting to {connection.ServerDisplay} as {connection.EffectiveUsername} (database \"{request.Database}\").");
            PgToolVersion serverVersion;
            long? estimatedSize;
            await using (var db = await server.OpenAsync(request.Database, cancellationToken).ConfigureAwait(false))
            {
                serverVersion = await PgServerConnection.GetServerVersionAsync(db, cancellationToken).ConfigureAwait(false);
                // The globals are a few kilobytes whatever the size of the database pg_dumpall connects to.
                estimatedSize = request.Kind == BackupKind.Globals ? null : await EstimateSizeAsync(db, cancellationToken).ConfigureAwait(false);
            }

            serverVersionText = serverVersion.Text;
            var pgDump = await _locator.FindAsync(request.Kind == BackupKind.Globals ? "pg_dumpall" : "pg_dump", serverVersion.Major, cancellationToken).ConfigureAwait(false);
            pgDumpVersionText = pgDump.Version.Text;
            plan = CompressionPlan.For(request.Format, request.Compression, request.CompressionLevel, pgDump.Version.Major);
            artifactKey = BackupNaming.ArtifactKey(id, startedAt, BackupNaming.Extension(request.Format, plan.StreamCompression, request.Encryption is not null));
            _log.Verbose($"Server {serverVersion.Text}; using {pgDump.Path} ({pgDump.Version.Text}); writing {repository.GetObjectLocation(artifactKey)}.");

            // -RowCounts: count in an exported snapshot that pg_dump then dumps; held open until the dump is done.
            await using var snapshot = request.RowCounts && !request.SchemaOnly
                ? await DumpSnapshot.BeginAsync(server, request.Database, cancellationToken).ConfigureAwait(false)
                : null;
            if (snapshot is not null)
            {
                _log.Verbose($"Counted rows of {snapshot.RowCounts.Count} tables in snapshot {snapshot.Id}; pg_dump dumps that snapshot.");
            }

            var dumpOptions = new PgDumpOptions
            {
                Database = request.Database,
                Format = request.Format,
                CompressionMethod = plan.PgDumpMethod,
                CompressionLevel = plan.PgDumpLevel,
                SchemaOnly = request.SchemaOnly,
                Snapshot = snapshot?.Id,
                Jobs = request.Jobs,
            };
            // Globals: pg_dumpall's argv instead of pg_dump's; the streaming path is the same.
            var globalsArguments = request.Kind == BackupKind.Globals ? PgDumpAllArguments.Globals(request.Database) : null;

            for (var attempt = 1; upload is null; attempt++)
            {
                try
                {
                    upload = await repository.BeginArtifactAsync(artifactKey, Metadata(request, startedAt), estimatedSize, cancellationToken).ConfigureAwait(false);
                }
                catch (RepositoryObjectExistsException) when (attempt < BackupNaming.NameAttempts)
                {
                    // Another run of this database drew the same name in the same second: draw again, never overwrite.
                    id = NewId(request, startedAt);
                    artifactKey = BackupNaming.ArtifactKey(id, startedAt, BackupNaming.Extension(request.Format, plan.StreamCompression, request.Encryption is not null));
                }
            }

            var (sha256, size) = await DumpIntoAsync(pgDump, dumpOptions, globalsArguments, RecordedDatabase(request), connection, upload.Content, Stages(plan, request.Encryption), estimatedSize, redactor, cancellationToken).ConfigureAwait(false);
            storedBytes = size;
            await upload.CommitAsync(sha256, size, cancellationToken).ConfigureAwait(false);
            stopwatch.Stop();

            var completedAt = startedAt + stopwatch.Elapsed;
            var artifactName = artifactKey[(artifactKey.LastIndexOf('/') + 1)..];
            var manifest = NewManifest(request, connection, id, startedAt, plan) with
            {
                ServerVersion = serverVersionText,
                PgDumpVersion = pgDumpVersionText,
                CompletedAt = completedAt,
                DurationSeconds = stopwatch.Elapsed.TotalSeconds,
                Artifact = artifactName,
                RestoreHint = Artifacts.RestoreHint.For(request.Format, plan.Stage, request.Compression, artifactName, request.Jobs, request.Encryption is not null),
                SizeBytes = size,
                Sha256 = sha256,
                Status = BackupStatus.Succeeded,
                RowCounts = snapshot is null ? null : new Dictionary<string, long>(snapshot.RowCounts, StringComparer.Ordinal),
            };
            var manifestKey = BackupNaming.ManifestKeyFor(artifactKey);
            var manifestBytes = ManifestSerializer.Serialize(manifest);
            await repository.WriteSmallObjectAsync(manifestKey, manifestBytes, Metadata(request, startedAt) with { Sha256 = sha256 }, cancellationToken).ConfigureAwait(false);
            _log.Verbose($"Backup {id} committed: {size:N0} bytes, sha256 {sha256}.");
            committed = (manifest, manifestKey, manifestBytes);
        }
        catch (OperationCanceledException)
        {
            // A cancelled backup is not a failed one: remove what was written, record nothing.
            await AbortQuietlyAsync(upload, repository).ConfigureAwait(false);
            throw;
        }
        catch (Exception ex)
        {
            // First the partial artifact goes: on a full disk it holds the space the Failed manifest needs.
            await AbortQuietlyAsync(upload, repository).ConfigureAwait(false);
            var failure = Classify(ex, request, connection, storedBytes, redactor);
            stopwatch.Stop();
            await RecordFailureAsync(request, connection, id, startedAt, plan, artifactKey, stopwatch.Elapsed, serverVersionText, pgDumpVersionText, redactor.Redact(failure.Message)).ConfigureAwait(false);
            if (ReferenceEquals(failure, ex))
            {
                throw;
            }

            throw failure;
        }

        // Committed: from here on nothing undoes the backup. Its signature follows the manifest; when it cannot be
        // written the backup stands, unsigned, and the caller hears why.
        var signatureFailure = await TrySignAsync(request, committed.Key, committed.Bytes).ConfigureAwait(false);
        var backup = new BackupCatalog(repository).ToBackupInfo(committed.Manifest, committed.Key, signed: request.Signer is not null && signatureFailure is null);
        if (signatureFailure is not null)
        {
            throw new SignatureWriteFailedException(
                $"Backup {backup.Id} is committed, but the signature of its manifest could not be written to {repository.GetObjectLocation(BackupNaming.SignatureKeyFor(committed.Key))}: {signatureFailure.Message} "
                + "The backup is unsigned: Test-PgBackup and Restore-PgBackup with -TrustedSigningKey refuse it.",
                backup,
                signatureFailure);
        }

        return backup;
    }

    /// <summary>
    /// -SigningKey: signs the manifest just stored under <paramref name="manifestKey"/> (its exact bytes) and stores
    /// <c>&lt;manifest&gt;.sig</c> next to it. Not cancellable — the manifest already committed, its signature should
    /// land — but bounded in time. Returns why it failed, or null (also when nothing is to be signed).
    /// </summary>
    private async Task<Exception?> TrySignAsync(BackupRequest request, string manifestKey, byte[] manifest)
    {
        if (request.Signer is not { } signer)
        {
            return null;
        }

        try
        {
            using var timeout = new CancellationTokenSource(SignatureTimeout);
            await Encryption.ManifestSignatures.WriteAsync(request.Repository, manifestKey, manifest, signer, timeout.Token).ConfigureAwait(false);
            _log.Verbose($"Signed {request.Repository.GetObjectLocation(manifestKey)} with key {signer.KeyFingerprint}.");
            return null;
        }
        catch (Exception ex) when (ex is PgBackupException or IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            return ex;
        }
    }

    private async Task<(string Sha256, long Size)> DumpIntoAsync(
        PgTool pgDump,
        PgDumpOptions options,
        IReadOnlyList<string>? globalsArguments,
        string database,
        Connection.PgConnectionSettings connection,
        Stream sink,
        IReadOnlyList<StreamTransform> stages,
        long? estimatedSize,
        SecretRedactor redactor,
        CancellationToken cancellationToken)
    {
        var lastReport = Stopwatch.StartNew();
        var activity = $"Backing up {database}";
        void RawBytes(long dumped)
        {
            if (lastReport.Elapsed >= OperationProgress.ReportInterval)
            {
                _progress?.Report(new OperationProgress(activity, "read from pg_dump", dumped, estimatedSize, TotalIsEstimate: true));
                lastReport.Restart();
            }
        }

        Exception SinkFailure(long written, Exception ex) => WriteFailure(database, written, ex);

        if (options.Format == BackupFormat.Directory)
        {
            // pg_dump -Fd -j n writes a folder (n workers, one synchronized snapshot); once it is complete it goes
            // into the repository as one tar stream, through the same pipeline as every other dump.
            var folder = Directory.CreateTempSubdirectory("pgbackup-dump-"); // 0700 on Unix
            try
            {
                var output = Path.Combine(folder.FullName, "dump");
                await using (var process = PgProcess.Start(pgDump, PgDumpArguments.Build(options with { OutputDirectory = output }, pgDump.Version.Major), connection))
                {
                    using var killOnCancel = cancellationToken.Register(process.Kill);
                    // Nothing passes the pipeline while pg_dump writes its folder: the folder's size is the progress
                    // (no total: the database's size says little about gzip's output).
                    await SampledProgress.WhileAsync(
                        _progress,
                        _ => Task.FromResult(TryFolderBytes(output)),
                        bytes => FolderProgress(activity, bytes),
                        () => EnsureSucceededAsync(process, database, redactor, cancellationToken)).ConfigureAwait(false);
                }

                // The folder's final size, then the storing phase against it (tar headers make the stream a little
                // larger; the bar's percentage stops at 99 until the end).
                var folderBytes = FolderBytes(output);
                _progress?.Report(FolderProgress(activity, folderBytes));
                var storingStarted = false;
                void TarredBytes(long tarred)
                {
                    if (!storingStarted || lastReport.Elapsed >= OperationProgress.ReportInterval)
                    {
                        storingStarted = true;
                        _progress?.Report(new OperationProgress(activity, FolderStoredStatus, tarred, folderBytes));
                        lastReport.Restart();
                    }
                }

                return await DumpPipeline.RunAsync(
                    (raw, token) => Artifacts.DirectoryArtifact.WriteTarAsync(output, raw, token),
                    sink, stages, TarredBytes, SinkFailure, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                folder.Delete(recursive: true);
            }
        }

        await using var dump = PgProcess.Start(pgDump, globalsArguments ?? PgDumpArguments.Build(options, pgDump.Version.Major), connection);
        var (sha256, size) = await DumpPipeline.RunAsync(
            async (raw, token) =>
            {
                // Stopping the pipeline (Ctrl+C, or a later stage failing) stops pg_dump too.
                using var killOnStop = token.Register(dump.Kill);
                await dump.StandardOutput.CopyToAsync(raw, DumpPipeline.ChunkSize, token).ConfigureAwait(false);
            },
            sink, stages, RawBytes, SinkFailure, cancellationToken).ConfigureAwait(false);
        await EnsureSucceededAsync(dump, database, redactor, cancellationToken).ConfigureAwait(false);
        if (size == 0)
        {
            throw new PgDumpFailedException($"pg_dump produced no output for database \"{database}\".", database);
        }

        return (sha256, size);
    }

    /// <summary>
    /// The stream stages between pg_dump and the hash: PgBackup's compression (when pg_dump does not compress), then
    /// encryption — after compression, because ciphertext does not compress; before the hash, so the manifest's
    /// SHA-256 and size are of the stored bytes and checking them needs no key.
    /// </summary>
    private static IReadOnlyList<StreamTransform> Stages(CompressionPlan plan, Encryption.OpenPgpEncryption? encryption)
    {
        var stages = new List<StreamTransform>(2);
        if (plan.StreamCompression != BackupCompression.None)
        {
            stages.Add(DumpPipeline.Compression(plan.StreamCompression, plan.StreamLevel));
        }

        if (encryption is not null)
        {
            stages.Add(output => encryption.Encrypt(output, leaveOpen: true));
        }

        return stages;
    }

    private static OperationProgress FolderProgress(string activity, long bytes) => new(activity, FolderWrittenStatus, bytes, null);

    /// <summary>The folder's size for a progress sample, or null when it could not be read this time.</summary>
    private static long? TryFolderBytes(string folder)
    {
        try
        {
            return FolderBytes(folder);
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// The bytes in pg_dump's output folder so far (it writes no sub-folders); 0 before pg_dump has created it. Any other
    /// failure to read it is an <see cref="IOException"/>.
    /// </summary>
    private static long FolderBytes(string folder)
    {
        try
        {
            return new DirectoryInfo(folder).EnumerateFiles().Sum(file => file.Length);
        }
        catch (DirectoryNotFoundException)
        {
            return 0;
        }
    }

    /// <summary>Waits for pg_dump; a non-zero exit is PgDumpFailed with its (redacted) stderr, anything else it printed is logged.</summary>
    private async Task EnsureSucceededAsync(PgProcess process, string database, SecretRedactor redactor, CancellationToken cancellationToken)
    {
        var exitCode = await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        var stderr = redactor.Redact(await process.StandardErrorTail.ConfigureAwait(false));
        cancellationToken.ThrowIfCancellationRequested();
        if (exitCode != 0)
        {
            var reason = string.IsNullOrWhiteSpace(stderr) ? $"pg_dump exited with code {exitCode} and printed nothing." : stderr;
            throw new PgDumpFailedException($"pg_dump failed for database \"{database}\" (exit code {exitCode}): {reason}", database);
        }

        if (!string.IsNullOrWhiteSpace(stderr))
        {
            _log.Verbose("pg_dump: " + stderr);
        }
    }

    /// <summary>A failed write into the repository: RepositoryFull when the disk ran out of space, else RepositoryWriteFailed.</summary>
    private static PgBackupException WriteFailure(string database, long written, Exception ex)
        => DiskFull.IsDiskFull(ex)
            ? new RepositoryFullException(FullMessage(database, written), database, ex)
            : new RepositoryWriteFailedException($"Writing the backup of \"{database}\" failed: {ex.Message}", database, ex);

    private static string FullMessage(string database, long? written)
        => $"The repository's disk is full: the backup of \"{database}\" stopped " +
            (written is { } bytes ? $"after {ByteSize.Format(bytes)} ({bytes:N0} bytes) were written" : "while it was being stored") +
            ". The incomplete artifact is not kept; free some space (or remove expired backups) and run the backup again.";

    /// <summary>
    /// What a failed backup is reported as. PgBackup's own failures stand; a full disk, however deep in a store's
    /// error, is RepositoryFull; a lost server session is the connection failure it is; anything else is a bug
    /// and says so (UnexpectedError, with its type), rather than passing for a pg_dump failure.
    /// </summary>
    private static PgBackupException Classify(Exception ex, BackupRequest request, Connection.PgConnectionSettings connection, long? storedBytes, SecretRedactor redactor)
        => ex switch
        {
            RepositoryFullException full => full,
            _ when DiskFull.IsDiskFull(ex) => new RepositoryFullException(FullMessage(request.Database, storedBytes), request.Database, ex),
            PgBackupException known => known,
            NpgsqlException or System.Net.Sockets.SocketException or TimeoutException => PgServerConnection.Translate(ex, connection, request.Database),
            _ => UnexpectedErrorException.For($"The backup of \"{request.Database}\"", ex, redactor.Redact(ex.Message), request.Database),
        };

    /// <summary>Removes a half-written artifact; a failure to do so is logged, never allowed to hide the failure that caused it.</summary>
    private async Task AbortQuietlyAsync(IArtifactUpload? upload, IBackupRepository repository)
    {
        if (upload is null)
        {
            return;
        }

        try
        {
            await upload.AbortAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or PgBackupException)
        {
            _log.Warning($"Could not remove the partial artifact from {repository.Location}: {ex.Message}");
        }
    }

    private static async Task<long?> EstimateSizeAsync(NpgsqlConnection db, CancellationToken cancellationToken)
    {
        try
        {
            await using var command = new NpgsqlCommand("SELECT pg_database_size(current_database())", db);
            return (long?)await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException)
        {
            // Needs CONNECT only, but some managed services restrict it; the estimate is optional.
            return null;
        }
    }

    private string NewId(BackupRequest request, DateTime startedAt) => BackupNaming.CreateId(request.Database, startedAt, _nameSuffix?.Invoke(), request.Kind);

    /// <summary>The database a backup is listed under: the one dumped, or "(globals)" for the server's globals.</summary>
    private static string RecordedDatabase(BackupRequest request) => request.Kind == BackupKind.Globals ? BackupNaming.GlobalsDatabaseName : request.Database;

    /// <summary>What a store may attach to the backup's objects (S3 object metadata).</summary>
    private static ArtifactMetadata Metadata(BackupRequest request, DateTime startedAt) => new(RecordedDatabase(request), startedAt, request.BackupType, ToolInfo.Version);

    private static BackupManifest NewManifest(BackupRequest request, Connection.PgConnectionSettings connection, string id, DateTime startedAt, CompressionPlan plan) => new()
    {
        SchemaVersion = BackupManifest.SchemaVersionFor(request.Kind, encrypted: request.Encryption is not null),
        Tool = ToolInfo.Name,
        ToolVersion = ToolInfo.Version,
        Id = id,
        Database = RecordedDatabase(request),
        Kind = request.Kind,
        Server = connection.ServerDisplay,
        StartedAt = startedAt,
        Format = request.Format,
        Compression = request.Compression,
        CompressionLevel = request.CompressionLevel,
        CompressionStage = plan.Stage,
        Jobs = request.Format == BackupFormat.Directory ? request.Jobs : null,
        SchemaOnly = request.SchemaOnly,
        Environment = request.Environment,
        Tags = new Dictionary<string, string>(request.Tags, StringComparer.Ordinal),
        BackupType = request.BackupType,
        Encryption = request.Encryption?.Info,
    };

    private async Task RecordFailureAsync(
        BackupRequest request,
        Connection.PgConnectionSettings connection,
        string id,
        DateTime startedAt,
        CompressionPlan plan,
        string artifactKey,
        TimeSpan elapsed,
        string? serverVersion,
        string? pgDumpVersion,
        string error)
    {
        var manifest = NewManifest(request, connection, id, startedAt, plan) with
        {
            ServerVersion = serverVersion,
            PgDumpVersion = pgDumpVersion,
            CompletedAt = startedAt + elapsed,
            DurationSeconds = elapsed.TotalSeconds,
            Status = BackupStatus.Failed,
            Error = error,
        };
        try
        {
            // Not cancellable: the attempt is over, the record of it should still land.
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    var manifestKey = BackupNaming.ManifestKeyFor(artifactKey);
                    var manifestBytes = ManifestSerializer.Serialize(manifest);
                    await request.Repository.WriteSmallObjectAsync(manifestKey, manifestBytes, Metadata(request, startedAt), timeout.Token).ConfigureAwait(false);
                    // A failed attempt's record is signed like a backup: -TrustedSigningKey can tell it is ours.
                    if (await TrySignAsync(request, manifestKey, manifestBytes).ConfigureAwait(false) is { } signatureFailure)
                    {
                        _log.Warning($"The record of the failed attempt {request.Repository.GetObjectLocation(manifestKey)} is not signed: {signatureFailure.Message}");
                    }

                    return;
                }
                catch (RepositoryObjectExistsException) when (attempt < BackupNaming.NameAttempts)
                {
                    // The name is another run's (same database, second and suffix): record this attempt under a new one.
                    var name = artifactKey[(artifactKey.LastIndexOf('/') + 1)..];
                    var newId = NewId(request, startedAt);
                    artifactKey = artifactKey[..^name.Length] + newId + name[manifest.Id.Length..];
                    manifest = manifest with { Id = newId };
                }
            }
        }
        catch (Exception ex) when (ex is PgBackupException or IOException or OperationCanceledException)
        {
            _log.Warning($"Could not record the failed attempt in {request.Repository.Location}: {ex.Message}");
        }
    }
}
