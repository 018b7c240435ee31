using System.Text.Json.Serialization;

namespace PgBackup.Catalog;

/// <summary>
/// The manifest as stored (<c>*.manifest.json</c>). This is an on-disk format: fields are only
/// ever added; a change in meaning bumps <see cref="SchemaVersion"/>.
/// </summary>
internal sealed record BackupManifest
{
    /// <summary>The newest schema this version reads.</summary>
    public const int CurrentSchemaVersion = 3;

    /// <summary>
    /// What a database backup's manifest is written as: version 1 readers read it right (they ignore <see cref="Kind"/>).
    /// </summary>
    public const int DatabaseSchemaVersion = 1;

    /// <summary>
    /// What a globals backup's manifest is written as: a version 1 reader would take it for a database called
    /// "(globals)" and restore the roles script into such a database, so it must refuse it ("update the module").
    /// </summary>
    public const int GlobalsSchemaVersion = 2;

    /// <summary>
    /// What an encrypted backup's manifest is written as: a reader of versions 1 and 2 ignores <see cref="Encryption"/>
    /// and would hand the ciphertext to pg_restore as a dump, so it must refuse it ("update the module") instead.
    /// </summary>
    public const int EncryptedSchemaVersion = 3;

    /// <summary>The oldest schema that readers of this backup's kind and encryption read right.</summary>
    public static int SchemaVersionFor(BackupKind kind, bool encrypted) => encrypted ? EncryptedSchemaVersion : kind == BackupKind.Globals ? GlobalsSchemaVersion : DatabaseSchemaVersion;

    public int SchemaVersion { get; init; } = DatabaseSchemaVersion;

    public required string Tool { get; init; }

    public required string ToolVersion { get; init; }

    public required string Id { get; init; }

    public required string Database { get; init; }

    /// <summary>Absent in manifests written before kinds existed: those are all <see cref="BackupKind.Database"/>.</summary>
    public BackupKind Kind { get; init; }

    /// <summary>host:port, never credentials.</summary>
    public required string Server { get; init; }

    public string? ServerVersion { get; init; }

    public string? PgDumpVersion { get; init; }

    public required DateTime StartedAt { get; init; }

    public DateTime? CompletedAt { get; init; }

    public double? DurationSeconds { get; init; }

    public BackupFormat Format { get; init; }

    public BackupCompression Compression { get; init; }

    public int? CompressionLevel { get; init; }

    /// <summary>Stored as "pg_dump" or "stream" (see <see cref="ManifestSerializer"/>); absent for none.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public CompressionStage CompressionStage { get; init; }

    public bool SchemaOnly { get; init; }

    /// <summary>File name of the artifact, next to the manifest; null when a failed attempt stored none.</summary>
    public string? Artifact { get; init; }

    public long SizeBytes { get; init; }

    public string? Sha256 { get; init; }

    public BackupStatus Status { get; init; }

    public string? Error { get; init; }

    public string? Environment { get; init; }

    public Dictionary<string, string> Tags { get; init; } = new(StringComparer.Ordinal);

    /// <summary>Exact row counts per table ("schema"."table"), taken in the dump's snapshot.</summary>
    public Dictionary<string, long>? RowCounts { get; init; }

    /// <summary>"automated" when no user was at the keyboard, else "manual".</summary>
    public string? BackupType { get; init; }

    /// <summary>pg_dump's -j for a directory-format dump (and the pg_restore -j its hint suggests); null otherwise.</summary>
    public int? Jobs { get; init; }

    /// <summary>
    /// How the artifact is encrypted (algorithm, recipients' key fingerprints, whether a passphrase opens it); null
    /// when it is not. Never a key or a passphrase: listing and retention read this manifest without any key.
    /// </summary>
    public Encryption.EncryptionInfo? Encryption { get; init; }

    /// <summary>The shell command that restores the artifact without PgBackup (see Artifacts.RestoreHint).</summary>
    public string? RestoreHint { get; init; }
}

