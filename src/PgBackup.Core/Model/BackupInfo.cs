namespace PgBackup;

public enum BackupFormat
{
    Custom,
    Directory,
    Plain,
    Tar,
}

public enum BackupCompression
{
    Gzip,
    Zstd,
    Lz4,
    None,
}

public enum BackupStatus
{
    Succeeded,
    Failed,
}

/// <summary>
/// One backup (or failed attempt) as recorded by its manifest. The full type name
/// <c>PgBackup.BackupInfo</c> is part of the public contract: format views select on it.
/// </summary>
public sealed class BackupInfo
{
    /// <summary>Artifact base name: <c>&lt;database&gt;_&lt;yyyyMMddTHHmmssZ&gt;_&lt;hex&gt;</c>.</summary>
    public required string Id { get; init; }

    public required string Database { get; init; }

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

    public bool Encrypted { get; init; }

    public long SizeBytes { get; init; }

    /// <summary>Lower-case hex SHA-256 of the stored bytes (after compression/encryption).</summary>
    public string? Sha256 { get; init; }

    /// <summary>Full path or URI of the artifact; null for a failed attempt that stored none.</summary>
    public string? Location { get; init; }

    public required string ManifestLocation { get; init; }

    public required string Repository { get; init; }

    /// <summary>
    /// The endpoint the repository was read through when its location does not name it: a custom S3 endpoint,
    /// or the Azure account endpoint of an az:// repository (null for local folders, AWS itself and Azure URLs).
    /// </summary>
    public string? RepositoryEndpoint { get; init; }

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

    /// <summary>"pg_dump" when pg_dump compressed the archive itself, "stream" when PgBackup did, null for none.</summary>
    public string? CompressionStage { get; init; }

    public override string ToString() => $"{Id} ({Status})";
}
