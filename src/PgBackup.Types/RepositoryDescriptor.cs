namespace PgBackup;

/// <summary>
/// Where a backup's repository is and how it was reached — never a credential. Every
/// <see cref="BackupInfo"/> carries the descriptor of the repository it was read from, so a piped object
/// re-opens that repository with the same settings: <c>Get-PgBackupInfo -S3Endpoint … | Restore-PgBackup</c>
/// needs the endpoint only once, whatever kind of store it is.
/// </summary>
public sealed class RepositoryDescriptor : IEquatable<RepositoryDescriptor>
{
    public RepositoryDescriptor(string location, IReadOnlyDictionary<string, string>? settings = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(location);
        Location = location;
        Settings = new Dictionary<string, string>(settings ?? new Dictionary<string, string>(), StringComparer.Ordinal);
    }

    /// <summary>The repository as the user names it: a folder path, or a URI such as s3://bucket/prefix or az://container/prefix.</summary>
    public string Location { get; }

    /// <summary>What the store needs besides the location to be reached again (for S3: endpoint, region; for az://: endpoint, the account's).</summary>
    public IReadOnlyDictionary<string, string> Settings { get; }

    /// <summary>A setting, or null when the repository was reached without it.</summary>
    public string? Setting(string name) => Settings.TryGetValue(name, out var value) ? value : null;

    /// <summary>Same location, same settings: the same repository reached the same way.</summary>
    public bool Equals(RepositoryDescriptor? other)
        => other is not null
            && string.Equals(Location, other.Location, StringComparison.Ordinal)
            && Settings.Count == other.Settings.Count
            && Settings.All(setting => other.Settings.TryGetValue(setting.Key, out var value) && string.Equals(value, setting.Value, StringComparison.Ordinal));

    public override bool Equals(object? obj) => Equals(obj as RepositoryDescriptor);

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Location);

    public override string ToString()
        => Settings.Count == 0 ? Location : $"{Location} ({string.Join(", ", Settings.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => $"{s.Key}={s.Value}"))})";
}
