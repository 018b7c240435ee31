namespace PgBackup;

public enum BackupFormat
{
    Custom,
    Plain,
    Tar,

    /// <summary>pg_dump's directory format (dumped in parallel with -Jobs), stored as one tar stream of the directory.</summary>
    Directory,
}

public enum BackupCompression
{
    Gzip,
    Zstd,
    Lz4,
    None,
}

/// <summary>What a backup holds: one database (pg_dump), or the server's globals (pg_dumpall --globals-only).</summary>
public enum BackupKind
{
    /// <summary>One database, dumped by pg_dump (every manifest written before kinds existed is one).</summary>
    Database,

    /// <summary>Roles, role memberships and settings, tablespaces: pg_dumpall --globals-only, as a plain SQL script.</summary>
    Globals,
}

public enum BackupStatus
{
    Succeeded,
    Failed,
}

/// <summary>Who compressed a backup's stored bytes.</summary>
public enum CompressionStage
{
    /// <summary>Nobody: the stored bytes are pg_dump's output as it wrote it (uncompressed, or no compression asked).</summary>
    None,

    /// <summary>pg_dump itself (custom-format archives): pg_restore reads the archive as stored.</summary>
    PgDump,

    /// <summary>PgBackup's stream stage, around pg_dump's output: decompress before pg_restore or psql.</summary>
    Stream,
}

/// <summary>
/// One backup (or failed attempt) as recorded by its manifest. The full type name
/// <c>PgBackup.BackupInfo</c> is part of the public contract: format views select on it.
/// </summary>
public sealed class BackupInfo
{
    /// <summary>Artifact base name: <c>&lt;database&gt;_&lt;yyyyMMddTHHmmssZ&gt;_&lt;hex&gt;</c>.</summary>
    public required string Id { get; init; }

    /// <summary>The database dumped; for a <see cref="BackupKind.Globals"/> backup always <c>(globals)</c>.</summary>
    public required string Database { get; init; }

    /// <summary>Database (one database) or Globals (roles, memberships, settings, tablespaces of the server).</summary>
    public BackupKind Kind { get; init; }

    /// <summary>host:port of the source server, never with credentials.</summary>
    public required string Server { get; init; }

    public string? ServerVersion { get; init; }

    public string? PgDumpVersion { get; init; }

    public required DateTime StartedAt { get; init; }

    public DateTime? CompletedAt { get; init; }

    public TimeSpan? Duration => CompletedAt is { } completed ? completed - StartedAt : null;

    public BackupFormat Format { get; init; }

    public BackupCompression Compression { get; init; }

    public int? CompressionLevel { get; init; }

    public bool SchemaOnly { get; init; }

    /// <summary>Whether the stored bytes are an OpenPGP message (New-PgBackup -EncryptionPassphrase or -EncryptionPublicKey).</summary>
    public bool Encrypted { get; init; }

    /// <summary>
    /// The primary key fingerprints (upper-case hex, as gpg prints them) of the public keys the backup is encrypted
    /// to; empty for a passphrase-encrypted or unencrypted backup.
    /// </summary>
    public string[] EncryptionKeyFingerprint { get; init; } = [];

    public long SizeBytes { get; init; }

    /// <summary>Lower-case hex SHA-256 of the stored bytes (after compression/encryption).</summary>
    public string? Sha256 { get; init; }

    /// <summary>Full path or URI of the artifact; null for a failed attempt that stored none.</summary>
    public string? Location { get; init; }

    public required string ManifestLocation { get; init; }

    /// <summary>
    /// Whether a detached OpenPGP signature (<c>&lt;manifest&gt;.sig</c>, New-PgBackup -SigningKey) is stored next to the
    /// manifest. Only says it is there: Test-/Restore-PgBackup -TrustedSigningKey check whose it is and that it matches.
    /// </summary>
    public bool Signed { get; init; }

    public required string Repository { get; init; }

    /// <summary>
    /// How the repository was reached (its location and, for S3, endpoint and region; for an az:// location, the
    /// account's blob endpoint), so a piped object finds it again.
    /// </summary>
    public RepositoryDescriptor? RepositoryDescriptor { get; init; }

    public BackupStatus Status { get; init; }

    public string? Error { get; init; }

    public string? Environment { get; init; }

    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();

    /// <summary>Exact per-table row counts taken in the dump's snapshot, when requested.</summary>
    public IReadOnlyDictionary<string, long>? RowCounts { get; init; }

    /// <summary>Repository-relative key of the artifact (same form locally and in S3).</summary>
    public string? ArtifactKey { get; init; }

    /// <summary>Repository-relative key of the manifest.</summary>
    public required string ManifestKey { get; init; }

    public string? ToolVersion { get; init; }

    public CompressionStage CompressionStage { get; init; }

    /// <summary>
    /// The one shell command that restores this backup without PgBackup (run next to the artifact, with PGHOST,
    /// PGUSER, … and PGDATABASE naming the target database); null for a failed attempt.
    /// </summary>
    public string? RestoreHint { get; init; }

    public override string ToString() => $"{Id} ({Status})";
}
