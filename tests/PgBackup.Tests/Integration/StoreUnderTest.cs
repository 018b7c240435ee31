using PgBackup.Storage;

namespace PgBackup.Tests.Integration;

/// <summary>
/// What the store-neutral contracts (<see cref="ObjectStoreParityContract"/>) need from an object
/// store's fixture (s3rver, Azurite): repositories under fresh prefixes, and an independent view of
/// what the server really holds — never through the repository code under test.
/// </summary>
internal interface IStoreUnderTest
{
    /// <summary>A repository under <paramref name="prefix"/>, straight to the server.</summary>
    IBackupRepository Repository(string prefix);

    /// <summary>The location a repository under <paramref name="prefix"/> reports (s3://bucket/prefix, az://container/prefix, …).</summary>
    string RepositoryLocation(string prefix);

    /// <summary>Lower-case hex SHA-256 of what the server holds for a full object key (prefix/…).</summary>
    string StoredSha256(string objectKey);

    /// <summary>Replaces what the server holds for a full object key.</summary>
    Task ReplaceAsync(string objectKey, byte[] content);

    /// <summary>Every full object key the server holds under <paramref name="prefix"/>/, sorted ordinally.</summary>
    Task<List<string>> ListKeysAsync(string prefix);

    /// <summary>A repository under <paramref name="prefix"/> reached through a recording, fault-injecting proxy.</summary>
    /// <param name="listPageSize">Objects per listing page, where the store lets the client choose (Azure); null = the store's default.</param>
    ProxiedRepository ThroughProxy(string prefix, int? listPageSize = null);
}

/// <summary>A repository behind a <see cref="FaultProxy{TOperation}"/>, described in store-neutral terms.</summary>
internal sealed class ProxiedRepository(
    IBackupRepository repository,
    IAsyncDisposable proxy,
    Action<ProxyFault, int> injectReadFault,
    Func<IReadOnlyList<(string Key, string Outcome)>> reads,
    Func<int> listRequests) : IAsyncDisposable
{
    public IBackupRepository Repository { get; } = repository;

    /// <summary>The next <c>times</c> object reads (GET) get the fault.</summary>
    public void InjectReadFault(ProxyFault fault, int times) => injectReadFault(fault, times);

    /// <summary>Every object read (GET) so far: the object key and what the proxy did.</summary>
    public IReadOnlyList<(string Key, string Outcome)> Reads => reads();

    /// <summary>Listing requests (pages) so far.</summary>
    public int ListRequests => listRequests();

    public async ValueTask DisposeAsync()
    {
        (Repository as IDisposable)?.Dispose();
        await proxy.DisposeAsync();
    }
}
