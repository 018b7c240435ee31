using PgBackup.Connection;
using PgBackup.Storage;

namespace PgBackup.Backup;

/// <summary>One database (or the server's globals) to back up, and how.</summary>
internal sealed record BackupRequest
{
    /// <summary>The database to dump; for <see cref="BackupKind.Globals"/> the one pg_dumpall connects to.</summary>
    public required string Database { get; init; }

    /// <summary>Globals: pg_dumpall --globals-only, always a plain script (Format, SchemaOnly and RowCounts do not apply).</summary>
    public BackupKind Kind { get; init; } = BackupKind.Database;

    public required PgConnectionSettings Connection { get; init; }

    public required IBackupRepository Repository { get; init; }

    public BackupFormat Format { get; init; } = BackupFormat.Custom;

    public BackupCompression Compression { get; init; } = BackupCompression.Zstd;

    public int? CompressionLevel { get; init; }

    /// <summary>pg_dump -j: parallel dump jobs, directory format only.</summary>
    public int Jobs { get; init; } = 1;

    public bool SchemaOnly { get; init; }

    /// <summary>Count every table's rows in the dump's own snapshot and store them in the manifest.</summary>
    public bool RowCounts { get; init; }

    public string? Environment { get; init; }

    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();

    /// <summary>Signs every manifest this backup writes (-SigningKey), Failed ones too; null: unsigned.</summary>
    public Encryption.ManifestSigner? Signer { get; init; }
    /// <summary>
    /// OpenPGP encryption of the stored bytes (after compression, before hashing), or null. The caller owns it: one
    /// per run, keys read and the passphrase's key derived once, for every backup of the run.
    /// </summary>
    public Encryption.OpenPgpEncryption? Encryption { get; init; }

    /// <summary>"automated" (scheduled task, CI) or "manual" (someone at a prompt).</summary>
    public string BackupType { get; init; } = "manual";
}
