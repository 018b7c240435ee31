using System.Globalization;
using System.Security.Cryptography;
using Azure.Storage.Sas;
using PgBackup.Catalog;
using PgBackup.Errors;
using PgBackup.Storage;
using PgBackup.Storage.Azure;

namespace PgBackup.Tests.Integration;

/// <summary>Credentials, failures and reads of Azure repositories against a real Blob API (Azurite).</summary>
[Collection(PostgresCollection.Name)]
public sealed class AzureRepositoryTests(PostgresFixture postgres, AzureFixture azure) : IClassFixture<AzureFixture>
{
    [Fact]
    public async Task A_missing_container_is_RepositoryNotFound_for_listing_and_for_backups()
    {
        var repository = azure.Repository("any", container: "no-such-container");
        var listing = await Assert.ThrowsAsync<RepositoryNotFoundException>(() => new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None));
        Assert.Equal("RepositoryNotFound", listing.ErrorId);
        Assert.Equal(FailureCategory.ObjectNotFound, listing.Category);
        Assert.Contains("no-such-container", listing.Message, StringComparison.Ordinal);

        var database = await StoreTestDatabases.NorthwindAsync(postgres.Cluster);
        var backup = await Assert.ThrowsAsync<RepositoryNotFoundException>(() => new Backup.BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None));
        Assert.Equal("RepositoryNotFound", backup.ErrorId);
    }

    [Fact]
    public async Task An_unreachable_endpoint_is_RepositoryUnreachable()
    {
        var closedPort = TestEnvironment.GetFreeTcpPort();
        var repository = azure.Repository("any", $"http://127.0.0.1:{closedPort}/{AzuriteServer.AccountName}");
        var error = await Assert.ThrowsAsync<RepositoryUnreachableException>(() => new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None));
        Assert.Equal("RepositoryUnreachable", error.ErrorId);
        Assert.Equal(FailureCategory.ConnectionError, error.Category);
        Assert.Contains(closedPort.ToString(CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_account_key_is_RepositoryAccessDenied_and_no_key_is_in_the_error()
    {
        var wrongKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));
        var prefix = StoredObjects.UniquePrefix("denied");
        var repository = azure.Repository(prefix, options: new AzureRepositoryOptions
        {
            Environment = AzureFixture.Variables(new() { [AzureConnectionResolver.KeyVariable] = wrongKey }),
        });

        var listing = await Assert.ThrowsAsync<RepositoryAccessDeniedException>(() => new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None));
        Assert.Equal("RepositoryAccessDenied", listing.ErrorId);
        Assert.Equal(FailureCategory.PermissionDenied, listing.Category);
        Assert.Contains("AZURE_STORAGE_KEY", listing.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrongKey, listing.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(azure.Server.AccountKey, listing.ToString(), StringComparison.Ordinal);

        var database = await StoreTestDatabases.NorthwindAsync(postgres.Cluster);
        var backup = await Assert.ThrowsAsync<RepositoryAccessDeniedException>(() => new Backup.BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None));
        Assert.DoesNotContain(wrongKey, backup.ToString(), StringComparison.Ordinal);
        Assert.Empty(await azure.ListKeysAsync(prefix));
    }

    [Fact]
    public async Task A_container_sas_token_backs_up_and_lists_and_a_forged_one_is_RepositoryAccessDenied_without_its_signature()
    {
        var sas = azure.ContainerSas(BlobContainerSasPermissions.Read | BlobContainerSasPermissions.Write | BlobContainerSasPermissions.Create | BlobContainerSasPermissions.List | BlobContainerSasPermissions.Delete);
        var prefix = StoredObjects.UniquePrefix("sas");
        var repository = azure.Repository(prefix, options: new AzureRepositoryOptions { Environment = AzureFixture.Variables(new() { [AzureConnectionResolver.SasTokenVariable] = "?" + sas }) });
        var database = await StoreTestDatabases.NorthwindAsync(postgres.Cluster);

        var backup = await new Backup.BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None);

        Assert.Equal(AzureCredentialSource.SasToken, repository.Connection.Source);
        Assert.Equal(backup.Sha256, azure.StoredSha256($"{prefix}/{backup.ArtifactKey}"));
        Assert.Equal(backup.Id, Assert.Single(await new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None)).Id);

        var signature = System.Web.HttpUtility.ParseQueryString(sas)["sig"]!;
        var forged = sas.Replace(Uri.EscapeDataString(signature), Uri.EscapeDataString(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))), StringComparison.Ordinal);
        var denied = azure.Repository(prefix, options: new AzureRepositoryOptions { Environment = AzureFixture.Variables(new() { [AzureConnectionResolver.SasTokenVariable] = forged }) });
        var error = await Assert.ThrowsAsync<RepositoryAccessDeniedException>(() => new BackupCatalog(denied).ListAsync(new CatalogQuery(), CancellationToken.None));
        Assert.Contains("AZURE_STORAGE_SAS_TOKEN", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(forged, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(signature, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_write_only_sas_token_can_back_up_although_it_may_not_list()
    {
        var sas = azure.ContainerSas(BlobContainerSasPermissions.Write | BlobContainerSasPermissions.Create);
        var prefix = StoredObjects.UniquePrefix("writeonly");
        var repository = azure.Repository(prefix, options: new AzureRepositoryOptions { Environment = AzureFixture.Variables(new() { [AzureConnectionResolver.SasTokenVariable] = sas }) });
        var database = await StoreTestDatabases.NorthwindAsync(postgres.Cluster);

        var backup = await new Backup.BackupService().RunAsync(StoreTestDatabases.Request(postgres, database, repository), CancellationToken.None);

        Assert.Equal(backup.Sha256, azure.StoredSha256($"{prefix}/{backup.ArtifactKey}"));
        await Assert.ThrowsAsync<RepositoryAccessDeniedException>(() => new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None));
    }

    [Fact]
    public async Task The_connection_string_comes_before_the_account_key_and_an_az_location_takes_its_account_from_it()
    {
        var prefix = StoredObjects.UniquePrefix("connstr");
        var environment = AzureFixture.Variables(new()
        {
            [AzureConnectionResolver.ConnectionStringVariable] = azure.Server.ConnectionString,
            [AzureConnectionResolver.KeyVariable] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(64)),
        });
        var repository = (AzureRepository)RepositoryFactory.Open($"az://{azure.Container}/{prefix}", azureOptions: new AzureRepositoryOptions { Environment = environment });

        await repository.WriteSmallObjectAsync("2024/05/06/thing.json", "{}"u8.ToArray(), metadata: null, CancellationToken.None);

        Assert.Equal(AzureCredentialSource.ConnectionString, repository.Connection.Source);
        Assert.Equal($"az://{azure.Container}/{prefix}", repository.Location);
        Assert.Equal(azure.Server.ServiceEndpoint, repository.Endpoint);
        Assert.Equal($"az://{azure.Container}/{prefix}/2024/05/06/thing.json", repository.GetObjectLocation("2024/05/06/thing.json"));
        Assert.Equal([$"{prefix}/2024/05/06/thing.json"], await azure.ListKeysAsync(prefix));

        // The descriptor every BackupInfo of it carries is enough to reopen the repository later with only the key.
        Assert.Equal(azure.Server.ServiceEndpoint, repository.Descriptor.Setting(AzureRepositoryOptions.EndpointSetting));
        var reopened = RepositoryFactory.Open(repository.Descriptor, azureOptions: new AzureRepositoryOptions
        {
            Environment = AzureFixture.Variables(new() { [AzureConnectionResolver.KeyVariable] = azure.Server.AccountKey }),
        });
        Assert.Equal("{}"u8.ToArray(), await reopened.ReadSmallObjectAsync("2024/05/06/thing.json", CancellationToken.None));
    }

    [Fact]
    public async Task No_credentials_for_an_http_endpoint_is_RepositoryAccessDenied_on_first_use()
    {
        var repository = azure.Repository("nocreds", options: new AzureRepositoryOptions { Environment = AzureFixture.Variables([]) });
        var error = await Assert.ThrowsAsync<RepositoryAccessDeniedException>(() => new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None));
        Assert.Contains("Microsoft Entra ID tokens are only sent over https", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_identity_that_cannot_get_a_token_is_RepositoryAccessDenied_naming_every_credential_source()
    {
        // No request leaves the process: the token is asked for before anything is sent.
        var repository = RepositoryFactory.Open(
            $"https://127.0.0.1:{TestEnvironment.GetFreeTcpPort()}/{AzuriteServer.AccountName}/{azure.Container}/x",
            azureOptions: new AzureRepositoryOptions { Environment = AzureFixture.Variables([]), TokenCredential = new UnavailableCredential() });

        var error = await Assert.ThrowsAsync<RepositoryAccessDeniedException>(() => new BackupCatalog(repository).ListAsync(new CatalogQuery(), CancellationToken.None));

        Assert.Equal("RepositoryAccessDenied", error.ErrorId);
        Assert.Contains("AZURE_STORAGE_CONNECTION_STRING", error.Message, StringComparison.Ordinal);
        Assert.Contains("managed identity", error.Message, StringComparison.Ordinal);
        Assert.Contains("no identity here", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exists_read_and_delete_work_on_blobs_under_the_prefix_only()
    {
        var prefix = StoredObjects.UniquePrefix("objects");
        var repository = azure.Repository(prefix);
        var content = "{\"hello\":\"azure\"}"u8.ToArray();
        await repository.WriteSmallObjectAsync("2024/05/06/thing.json", content, metadata: null, CancellationToken.None);

        Assert.True(await repository.ExistsAsync("2024/05/06/thing.json", CancellationToken.None));
        Assert.False(await repository.ExistsAsync("2024/05/06/other.json", CancellationToken.None));
        Assert.Equal(content, await repository.ReadSmallObjectAsync("2024/05/06/thing.json", CancellationToken.None));
        Assert.Equal([$"{prefix}/2024/05/06/thing.json"], await azure.ListKeysAsync(prefix));
        var missing = await Assert.ThrowsAsync<RepositoryReadFailedException>(() => repository.ReadSmallObjectAsync("2024/05/06/other.json", CancellationToken.None));
        Assert.Equal($"{azure.RepositoryLocation(prefix)}/2024/05/06/other.json", missing.TargetObject);
        Assert.Throws<InvalidManifestException>(() => repository.GetObjectLocation("../escape.json"));

        await repository.DeleteAsync("2024/05/06/thing.json", CancellationToken.None);
        await repository.DeleteAsync("2024/05/06/thing.json", CancellationToken.None);
        Assert.Empty(await azure.ListKeysAsync(prefix));
        await Assert.ThrowsAsync<RepositoryNotFoundException>(() => azure.Repository(prefix, container: "no-such-container").ExistsAsync("x", CancellationToken.None));
    }

    [Fact]
    public async Task Reading_a_blob_resumes_where_a_broken_connection_left_off_pinned_to_its_etag()
    {
        var prefix = StoredObjects.UniquePrefix("resume");
        await using var proxy = AzureFaultProxy.Start(azure.Server.Endpoint);
        var repository = azure.Repository(prefix, proxy.ServiceEndpoint);
        var content = new byte[3 * 1024 * 1024];
        Random.Shared.NextBytes(content);
        await repository.WriteSmallObjectAsync("2024/09/10/big.bin", content, metadata: null, CancellationToken.None);
        proxy.InjectFault(AzureOperation.GetBlob, ProxyFault.TruncateResponseBody, times: 2);

        var (sha256, size) = await StoredObjects.DownloadAsync(repository, "2024/09/10/big.bin");

        Assert.Equal(Convert.ToHexString(SHA256.HashData(content)).ToLowerInvariant(), sha256);
        Assert.Equal(content.Length, size);
        var gets = proxy.RequestsOf(AzureOperation.GetBlob);
        Assert.Equal(["truncated", "truncated", "forwarded"], gets.Select(g => g.Outcome));
        Assert.False(gets[0].Headers.ContainsKey("x-ms-range") || gets[0].Headers.ContainsKey("range"));
        Assert.StartsWith("bytes=", gets[1].Headers.GetValueOrDefault("x-ms-range") ?? gets[1].Headers["range"], StringComparison.Ordinal);
        Assert.True(gets[1].Headers.ContainsKey("if-match"), "a resumed read must be pinned to the same blob version");
    }

    [Fact]
    public async Task A_blob_replaced_while_it_is_read_is_an_error_not_a_splice()
    {
        var prefix = StoredObjects.UniquePrefix("replaced");
        await using var proxy = AzureFaultProxy.Start(azure.Server.Endpoint);
        var repository = azure.Repository(prefix, proxy.ServiceEndpoint);
        var content = new byte[2 * 1024 * 1024];
        Random.Shared.NextBytes(content);
        await repository.WriteSmallObjectAsync("2024/09/10/moving.bin", content, metadata: null, CancellationToken.None);
        proxy.InjectFault(AzureOperation.GetBlob, ProxyFault.TruncateResponseBody, times: 1);

        await using var stream = await repository.OpenReadAsync("2024/09/10/moving.bin", CancellationToken.None);
        await azure.ReplaceAsync($"{prefix}/2024/09/10/moving.bin", new byte[content.Length]);
        var error = await Assert.ThrowsAsync<RepositoryReadFailedException>(() => stream.CopyToAsync(Stream.Null));

        Assert.Contains("replaced while it was being read", error.Message, StringComparison.Ordinal);
        Assert.Contains(proxy.RequestsOf(AzureOperation.GetBlob), g => g.Status == 412);
    }

    private sealed class UnavailableCredential : global::Azure.Core.TokenCredential
    {
        public override global::Azure.Core.AccessToken GetToken(global::Azure.Core.TokenRequestContext requestContext, CancellationToken cancellationToken)
            => throw new global::Azure.Identity.CredentialUnavailableException("no identity here");

        public override ValueTask<global::Azure.Core.AccessToken> GetTokenAsync(global::Azure.Core.TokenRequestContext requestContext, CancellationToken cancellationToken)
            => throw new global::Azure.Identity.CredentialUnavailableException("no identity here");
    }
}
