namespace PgBackup.Connection;

/// <summary>
/// A fully resolved PostgreSQL connection. <see cref="Password"/> is a secret: it is handed to
/// child tools only through their environment and never printed (see <see cref="ToString"/>).
/// </summary>
internal sealed record PgConnectionSettings
{
    public const string DefaultHost = "localhost";
    public const int DefaultPort = 5432;

    public string Host { get; init; } = DefaultHost;

    public int Port { get; init; } = DefaultPort;

    public string? Username { get; init; }

    public string? Password { get; init; }

    public string? Database { get; init; }

    public string? SslMode { get; init; }

    public string? PassFile { get; init; }

    /// <summary>Username as libpq would pick it: explicit, else the operating-system user.</summary>
    public string EffectiveUsername => string.IsNullOrEmpty(Username) ? System.Environment.UserName : Username;

    /// <summary>host:port, the form recorded in manifests (no user, no password).</summary>
    public string ServerDisplay => Host.Contains(':', StringComparison.Ordinal) && !Host.StartsWith('[') && !Host.StartsWith('/')
        ? $"[{Host}]:{Port}"
        : $"{Host}:{Port}";

    public override string ToString() => $"{EffectiveUsername}@{ServerDisplay}/{Database}";
}

/// <summary>What the user typed; every field optional. Resolved by <see cref="ConnectionResolver"/>.</summary>
internal sealed record ConnectionOptions
{
    public string? Server { get; init; }

    public int? Port { get; init; }

    public string? Username { get; init; }

    public string? Password { get; init; }

    public string? ConnectionString { get; init; }

    public string? Database { get; init; }
}
