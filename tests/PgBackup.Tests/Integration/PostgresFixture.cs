using PgBackup.Connection;

namespace PgBackup.Tests.Integration;

/// <summary>
/// One throwaway trust-auth cluster shared by the "postgres" collection (tests use their own
/// databases in it). Starting fails the tests — never skips them — when PostgreSQL is missing.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private PostgresCluster? _cluster;

    public PostgresCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster is not started.");

    /// <summary>Connection settings for the superuser over TCP.</summary>
    internal PgConnectionSettings Connection(string? database = null) => new()
    {
        Host = Cluster.Host,
        Port = Cluster.Port,
        Username = PostgresCluster.Superuser,
        Password = Cluster.SuperuserPassword,
        Database = database,
    };

    /// <summary>A database name no other test uses.</summary>
    public static string UniqueName(string prefix) => $"{prefix}_{Guid.NewGuid():N}"[..(prefix.Length + 9)];

    public async Task InitializeAsync() => _cluster = await PostgresCluster.StartAsync();

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}

/// <summary>A cluster that demands scram-sha-256 passwords over TCP.</summary>
public sealed class ScramPostgresFixture : IAsyncLifetime
{
    public const string Password = "s3cr3t-P@ss:word/with?chars";

    private PostgresCluster? _cluster;

    public PostgresCluster Cluster => _cluster ?? throw new InvalidOperationException("The cluster is not started.");

    internal PgConnectionSettings Connection(string? database = null, string? password = Password) => new()
    {
        Host = Cluster.Host,
        Port = Cluster.Port,
        Username = PostgresCluster.Superuser,
        Password = password,
        Database = database,
    };

    public async Task InitializeAsync() => _cluster = await PostgresCluster.StartAsync(new PostgresClusterOptions { SuperuserPassword = Password });

    public async Task DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>, ICollectionFixture<ScramPostgresFixture>
{
    public const string Name = "postgres";
}
