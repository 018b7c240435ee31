using Azure.Storage;
using Azure.Storage.Sas;
using PgBackup.Storage;
using PgBackup.Storage.Azure;

namespace PgBackup.Tests.Integration;

/// <summary>
/// One Azurite per test class (started by the tests; fails, never skips, without node/Azurite),
/// plus what every Azure test needs: repositories whose credentials come from their own
/// AZURE_STORAGE_* variables (never this process's: tests run in parallel), through a recording proxy
/// when asked, and an independent view of what Azurite stores (its REST API, signed by the test support).
/// </summary>
public sealed class AzureFixture : IAsyncLifetime, IStoreUnderTest
{
    private AzuriteServer? _server;

    public AzuriteServer Server => _server ?? throw new InvalidOperationException("Azurite is not started.");

    public string Container => AzuriteServer.DefaultContainer;

    /// <summary>The AZURE_STORAGE_* variables of a pipeline that holds the account key (and names the account).</summary>
    public Func<string, string?> KeyEnvironment => Variables(new()
    {
        [AzureConnectionResolver.AccountVariable] = AzuriteServer.AccountName,
        [AzureConnectionResolver.KeyVariable] = Server.AccountKey,
    });

    /// <summary>
    /// The variables of a pipeline that holds a container SAS token (as its secret store hands it out, with
    /// a leading '?'). Unlike Shared Key, a SAS signs no request header: a proxy may then tamper with bodies.
    /// </summary>
    public Func<string, string?> SasEnvironment(BlobContainerSasPermissions permissions)
        => Variables(new() { [AzureConnectionResolver.SasTokenVariable] = "?" + ContainerSas(permissions) });

    /// <summary>A container SAS signed with the account key.</summary>
    public string ContainerSas(BlobContainerSasPermissions permissions)
    {
        var builder = new BlobSasBuilder(permissions, DateTimeOffset.UtcNow.AddHours(1)) { BlobContainerName = Container, Protocol = SasProtocol.HttpsAndHttp };
        return builder.ToSasQueryParameters(new StorageSharedKeyCredential(AzuriteServer.AccountName, Server.AccountKey)).ToString();
    }

    /// <summary>An environment made of exactly these variables.</summary>
    public static Func<string, string?> Variables(Dictionary<string, string> variables) => name => variables.GetValueOrDefault(name);

    /// <summary>An Azure repository at the path-style URL of <paramref name="prefix"/> in the container, reached through <paramref name="serviceEndpoint"/> (a proxy's, or Azurite's).</summary>
    internal AzureRepository Repository(string prefix, string? serviceEndpoint = null, AzureRepositoryOptions? options = null, string? container = null)
    {
        options = (options ?? new AzureRepositoryOptions()) with { Environment = options?.Environment ?? KeyEnvironment };
        return (AzureRepository)RepositoryFactory.Open($"{serviceEndpoint ?? Server.ServiceEndpoint}/{container ?? Container}/{prefix}", azureOptions: options);
    }

    IBackupRepository IStoreUnderTest.Repository(string prefix) => Repository(prefix);

    public string RepositoryLocation(string prefix) => prefix.Length == 0 ? $"{Server.ServiceEndpoint}/{Container}" : $"{Server.ServiceEndpoint}/{Container}/{prefix}";

    public string StoredSha256(string objectKey) => Server.StoredSha256(Container, objectKey);

    public Task ReplaceAsync(string objectKey, byte[] content) => Server.PutBlobAsync(Container, objectKey, content);

    public Task<List<string>> ListKeysAsync(string prefix) => Server.ListBlobNamesAsync(Container, prefix + "/");

    ProxiedRepository IStoreUnderTest.ThroughProxy(string prefix, int? listPageSize)
    {
        var proxy = AzureFaultProxy.Start(Server.Endpoint);
        return new ProxiedRepository(
            Repository(prefix, proxy.ServiceEndpoint, new AzureRepositoryOptions { ListPageSize = listPageSize }),
            proxy,
            (fault, times) => proxy.InjectFault(AzureOperation.GetBlob, fault, times),
            () => proxy.RequestsOf(AzureOperation.GetBlob).Select(r => (r.Key, r.Outcome)).ToList(),
            () => proxy.RequestsOf(AzureOperation.ListBlobs).Count);
    }

    public async Task InitializeAsync() => _server = await AzuriteServer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
