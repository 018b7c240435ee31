using Azure.Core;
using Azure.Identity;
using PgBackup.Errors;
using PgBackup.PgTools;
using PgBackup.Storage;
using PgBackup.Storage.Azure;

namespace PgBackup.Tests.Unit;

/// <summary>Azure locations, connection strings, the credential order and block sizing: pure logic, no server.</summary>
public sealed class AzureOptionsTests
{
    private const long MiB = 1024 * 1024;
    private const string Key = "c2VjcmV0LWtleS1ieXRlcy1mb3ItdGVzdHMtb25seS0xMjM0NTY3ODkw";
    private const string OtherKey = "b3RoZXIta2V5LWJ5dGVzLWZvci10ZXN0cy1vbmx5LTEyMzQ1Njc4OTA=";

    [Theory]
    [InlineData("az://backups/pg/prod", null, null, "backups", "pg/prod", "az://backups/pg/prod")]
    [InlineData("AZ://backups", null, null, "backups", "", "az://backups")]
    [InlineData("az://backups/pg/", null, null, "backups", "pg", "az://backups/pg")]
    [InlineData("https://acme.blob.core.windows.net/backups/pg", "https://acme.blob.core.windows.net/", "acme", "backups", "pg", "https://acme.blob.core.windows.net/backups/pg")]
    [InlineData("HTTPS://Acme.Blob.Core.Windows.Net/backups/", "https://acme.blob.core.windows.net/", "acme", "backups", "", "https://acme.blob.core.windows.net/backups")]
    [InlineData("https://acme.blob.core.chinacloudapi.cn/backups/a/b", "https://acme.blob.core.chinacloudapi.cn/", "acme", "backups", "a/b", "https://acme.blob.core.chinacloudapi.cn/backups/a/b")]
    [InlineData("http://127.0.0.1:10000/devstoreaccount1/backups/pg", "http://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1", "backups", "pg", "http://127.0.0.1:10000/devstoreaccount1/backups/pg")]
    [InlineData("http://localhost:41234/acct1/backups", "http://localhost:41234/acct1", "acct1", "backups", "", "http://localhost:41234/acct1/backups")]
    [InlineData("http://azurite:10000/acct1/my-backups/x%20y", "http://azurite:10000/acct1", "acct1", "my-backups", "x%20y", "http://azurite:10000/acct1/my-backups/x%20y")]
    public void Locations_parse_into_endpoint_account_container_and_prefix(string location, string? serviceUri, string? account, string container, string prefix, string shown)
    {
        var parsed = AzureBlobLocation.Parse(location);

        Assert.Equal(serviceUri, parsed.ServiceUri?.ToString());
        Assert.Equal(account, parsed.AccountName);
        Assert.Equal(container, parsed.Container);
        Assert.Equal(prefix, parsed.Prefix);
        Assert.Equal(shown, parsed.ToString());
        Assert.Equal(parsed, AzureBlobLocation.Parse(parsed.ToString()));
        Assert.Equal(prefix.Length == 0 ? "2024/01/02/x.dump" : $"{prefix}/2024/01/02/x.dump", parsed.BlobName("2024/01/02/x.dump"));
    }

    [Theory]
    [InlineData("az://")]
    [InlineData("az:///pg")]
    [InlineData("az://Backups/pg")]
    [InlineData("az://ab/pg")]
    [InlineData("az://back--ups/pg")]
    [InlineData("az://backups/a/../b")]
    [InlineData("https://acme.blob.core.windows.net")]
    [InlineData("https://acme.blob.core.windows.net/")]
    [InlineData("https://ACME_1.blob.core.windows.net/backups")]
    [InlineData("http://127.0.0.1:10000/")]
    [InlineData("http://127.0.0.1:10000/acct1")]
    [InlineData("https://user:pass@acme.blob.core.windows.net/backups")]
    public void Malformed_locations_are_InvalidRepository(string location)
    {
        var error = Assert.Throws<InvalidRepositoryException>(() => AzureBlobLocation.Parse(location));
        Assert.Equal("InvalidRepository", error.ErrorId);
        Assert.Equal(FailureCategory.InvalidArgument, error.Category);
        Assert.DoesNotContain("user:pass", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_sas_token_in_the_url_is_refused_without_repeating_it()
    {
        const string signature = "sig=Zm9vYmFyLXNpZ25hdHVyZQ%3D%3D";
        var error = Assert.Throws<InvalidRepositoryException>(() => RepositoryFactory.Open($"https://acme.blob.core.windows.net/backups/pg?sv=2024-08-04&sp=rwl&{signature}"));

        Assert.Contains("AZURE_STORAGE_SAS_TOKEN", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("sig=", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("sv=", error.ToString(), StringComparison.Ordinal);
        Assert.Equal("https://acme.blob.core.windows.net/backups/pg", error.TargetObject);
    }

    [Fact]
    public void Repository_factory_opens_az_and_http_locations_as_azure_repositories()
    {
        var environment = Env(("AZURE_STORAGE_ACCOUNT", "acme"));
        var az = Assert.IsType<AzureRepository>(RepositoryFactory.Open("az://backups/pg", azureOptions: new AzureRepositoryOptions { Environment = environment }));
        var url = Assert.IsType<AzureRepository>(RepositoryFactory.Open("https://acme.blob.core.windows.net/backups/pg", azureOptions: new AzureRepositoryOptions { Environment = environment }));

        Assert.Equal("az://backups/pg", az.Location);
        Assert.Equal("https://acme.blob.core.windows.net", az.Endpoint);
        Assert.Equal("az://backups/pg/2024/05/06/x.dump", az.GetObjectLocation("2024/05/06/x.dump"));
        Assert.Equal("https://acme.blob.core.windows.net/backups/pg", url.Location);
        Assert.Null(url.Endpoint);
        Assert.Throws<InvalidManifestException>(() => az.GetObjectLocation("../escape.json"));

        // What a BackupInfo carries to re-open them: az:// remembers the account endpoint, a URL names its own.
        Assert.Equal(new RepositoryDescriptor("az://backups/pg", new Dictionary<string, string> { [AzureRepositoryOptions.EndpointSetting] = "https://acme.blob.core.windows.net" }), az.Descriptor);
        Assert.Equal(new RepositoryDescriptor("https://acme.blob.core.windows.net/backups/pg"), url.Descriptor);
    }

    [Fact]
    public void A_descriptor_reopens_an_az_location_on_its_recorded_account_without_AZURE_STORAGE_ACCOUNT()
    {
        var recorded = new RepositoryDescriptor("az://backups/pg", new Dictionary<string, string> { [AzureRepositoryOptions.EndpointSetting] = "https://acme.blob.core.windows.net" });

        var reopened = Assert.IsType<AzureRepository>(RepositoryFactory.Open(recorded, azureOptions: new AzureRepositoryOptions { Environment = Env(("AZURE_STORAGE_KEY", Key)) }));

        Assert.Equal("az://backups/pg", reopened.Location);
        Assert.Equal("https://acme.blob.core.windows.net", reopened.Endpoint);
        Assert.Equal(recorded, reopened.Descriptor);
        // Without a descriptor's endpoint, the account is the environment's again; an explicit endpoint wins over the recorded one.
        var elsewhere = Assert.IsType<AzureRepository>(RepositoryFactory.Open(
            recorded,
            azureOptions: new AzureRepositoryOptions { ServiceEndpoint = "https://other.blob.core.windows.net", Environment = Env(("AZURE_STORAGE_ACCOUNT", "acme")) }));
        Assert.Equal("https://other.blob.core.windows.net", elsewhere.Endpoint);
        Assert.Throws<InvalidRepositoryException>(() => RepositoryFactory.Open(new RepositoryDescriptor("az://backups/pg"), azureOptions: new AzureRepositoryOptions { Environment = Env() }));
    }

    [Fact]
    public void An_az_location_without_an_account_is_InvalidRepository_naming_the_variables()
    {
        var error = Assert.Throws<InvalidRepositoryException>(() => RepositoryFactory.Open("az://backups/pg", azureOptions: new AzureRepositoryOptions { Environment = Env() }));
        Assert.Contains("AZURE_STORAGE_ACCOUNT", error.Message, StringComparison.Ordinal);
        Assert.Contains("AZURE_STORAGE_CONNECTION_STRING", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_account_of_an_az_location_comes_from_the_remembered_endpoint_then_the_connection_string_then_AZURE_STORAGE_ACCOUNT()
    {
        var location = AzureBlobLocation.Parse("az://backups/pg");
        var everything = Env(
            ("AZURE_STORAGE_CONNECTION_STRING", $"AccountName=fromconn;AccountKey={Key};EndpointSuffix=core.usgovcloudapi.net"),
            ("AZURE_STORAGE_ACCOUNT", "fromaccount"));

        Assert.Equal("http://127.0.0.1:10000/remembered", AzureConnectionResolver.ResolveAccount(location, "http://127.0.0.1:10000/remembered", everything).ServiceUri!.ToString());
        Assert.Equal("https://fromconn.blob.core.usgovcloudapi.net/", AzureConnectionResolver.ResolveAccount(location, null, everything).ServiceUri!.ToString());
        Assert.Equal("https://fromaccount.blob.core.windows.net/", AzureConnectionResolver.ResolveAccount(location, null, Env(("AZURE_STORAGE_ACCOUNT", "FromAccount"))).ServiceUri!.ToString());

        var url = AzureBlobLocation.Parse("https://named.blob.core.windows.net/backups");
        Assert.Same(url, AzureConnectionResolver.ResolveAccount(url, "http://127.0.0.1:1/other", everything));
    }

    [Theory]
    [InlineData("DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=" + Key + ";EndpointSuffix=core.windows.net", "https://acme.blob.core.windows.net/", "acme", true, false)]
    [InlineData("AccountName=Acme;AccountKey=" + Key, "https://acme.blob.core.windows.net/", "acme", true, false)]
    [InlineData("BlobEndpoint=https://acme.blob.core.windows.net/;SharedAccessSignature=?sv=2024&sig=abc", "https://acme.blob.core.windows.net/", "acme", false, true)]
    [InlineData("DefaultEndpointsProtocol=http;AccountName=acct1;AccountKey=" + Key + ";BlobEndpoint=http://127.0.0.1:10000/acct1;", "http://127.0.0.1:10000/acct1", "acct1", true, false)]
    [InlineData("UseDevelopmentStorage=true", "http://127.0.0.1:10000/devstoreaccount1", "devstoreaccount1", true, false)]
    public void Connection_strings_give_the_endpoint_account_and_secret(string connectionString, string serviceUri, string account, bool hasKey, bool hasSas)
    {
        var parsed = AzureConnectionString.Parse(connectionString, "AZURE_STORAGE_CONNECTION_STRING");

        Assert.Equal(serviceUri, parsed.ServiceUri.ToString());
        Assert.Equal(account, parsed.AccountName);
        Assert.Equal(hasKey, parsed.AccountKey is not null);
        Assert.Equal(hasSas, parsed.SharedAccessSignature is not null);
        Assert.False(parsed.SharedAccessSignature?.StartsWith('?') ?? false);
    }

    [Theory]
    [InlineData("AccountKey=" + Key)]
    [InlineData("this is not a connection string " + Key)]
    [InlineData("AccountName=acme;DefaultEndpointsProtocol=ftp;AccountKey=" + Key)]
    [InlineData("BlobEndpoint=ftp://acme/;AccountKey=" + Key)]
    public void A_malformed_connection_string_is_InvalidRepository_without_its_secret(string connectionString)
    {
        var error = Assert.Throws<InvalidRepositoryException>(() => AzureConnectionString.Parse(connectionString, "AZURE_STORAGE_CONNECTION_STRING"));
        Assert.Contains("AZURE_STORAGE_CONNECTION_STRING", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Credentials_come_from_the_connection_string_first_when_it_names_the_same_endpoint()
    {
        var location = Resolved("https://acme.blob.core.windows.net/backups");
        var connection = AzureConnectionResolver.Resolve(location, Env(
            ("AZURE_STORAGE_CONNECTION_STRING", $"AccountName=acme;AccountKey={Key}"),
            ("AZURE_STORAGE_SAS_TOKEN", "?sv=2024&sig=sas"),
            ("AZURE_STORAGE_KEY", OtherKey)));

        Assert.Equal(AzureCredentialSource.ConnectionString, connection.Source);
        Assert.NotNull(connection.SharedKey);
        Assert.Contains(Key, connection.Secrets);
        Assert.DoesNotContain(Key, connection.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_connection_string_for_another_account_is_passed_over_for_the_sas_token()
    {
        var connection = AzureConnectionResolver.Resolve(Resolved("https://acme.blob.core.windows.net/backups"), Env(
            ("AZURE_STORAGE_CONNECTION_STRING", $"AccountName=other;AccountKey={Key}"),
            ("AZURE_STORAGE_SAS_TOKEN", "?sv=2024&sig=sas"),
            ("AZURE_STORAGE_KEY", OtherKey)));

        Assert.Equal(AzureCredentialSource.SasToken, connection.Source);
        Assert.NotNull(connection.Sas);
        Assert.Equal("sv=2024&sig=sas", connection.Sas!.Signature);
        Assert.Contains("AZURE_STORAGE_SAS_TOKEN", connection.DescribeSource(), StringComparison.Ordinal);
    }

    [Fact]
    public void The_account_key_comes_after_the_sas_token_and_only_for_its_own_account()
    {
        var location = Resolved("https://acme.blob.core.windows.net/backups");
        var key = AzureConnectionResolver.Resolve(location, Env(("AZURE_STORAGE_KEY", Key)));
        var named = AzureConnectionResolver.Resolve(location, Env(("AZURE_STORAGE_ACCOUNT", "ACME"), ("AZURE_STORAGE_KEY", Key)));
        var foreign = AzureConnectionResolver.Resolve(location, Env(("AZURE_STORAGE_ACCOUNT", "other"), ("AZURE_STORAGE_KEY", Key), ("AZURE_STORAGE_SAS_TOKEN", "sig=x")), () => new FakeTokenCredential());

        Assert.Equal(AzureCredentialSource.AccountKey, key.Source);
        Assert.Equal("acme", key.SharedKey!.AccountName);
        Assert.Equal(AzureCredentialSource.AccountKey, named.Source);
        // Another account's key and SAS are never offered to this one: Entra ID is tried instead.
        Assert.Equal(AzureCredentialSource.DefaultAzureCredential, foreign.Source);
        Assert.IsType<FakeTokenCredential>(Assert.IsType<CachedTokenCredential>(foreign.Token).Inner);
    }

    [Fact]
    public void Without_a_key_or_sas_an_https_account_uses_entra_id_and_pipelines_workload_identity_comes_first()
    {
        var location = Resolved("https://acme.blob.core.windows.net/backups");

        // Building the credentials touches no network; no token is ever asked for here.
        var plain = AzureConnectionResolver.Resolve(location, Env());
        var pipelines = AzureConnectionResolver.Resolve(location, Env(
            ("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", "00000000-0000-0000-0000-000000000001"),
            ("AZURESUBSCRIPTION_CLIENT_ID", "00000000-0000-0000-0000-000000000002"),
            ("AZURESUBSCRIPTION_TENANT_ID", "00000000-0000-0000-0000-000000000003"),
            ("SYSTEM_ACCESSTOKEN", "pipeline-token")));

        Assert.Equal(AzureCredentialSource.DefaultAzureCredential, plain.Source);
        Assert.IsType<DefaultAzureCredential>(Assert.IsType<CachedTokenCredential>(plain.Token).Inner);
        Assert.IsType<ChainedTokenCredential>(Assert.IsType<CachedTokenCredential>(pipelines.Token).Inner);
        Assert.Empty(plain.Secrets);
    }

    [Fact]
    public void Without_a_key_or_sas_an_http_endpoint_is_RepositoryAccessDenied_before_any_request()
    {
        var error = Assert.Throws<RepositoryAccessDeniedException>(() => AzureConnectionResolver.Resolve(Resolved("http://127.0.0.1:10000/acct1/backups"), Env()));
        Assert.Equal("RepositoryAccessDenied", error.ErrorId);
        Assert.Contains("AZURE_STORAGE_KEY", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_account_key_that_is_not_base64_is_InvalidRepository_without_the_key()
    {
        const string notBase64 = "not base64 at all!";
        var error = Assert.Throws<InvalidRepositoryException>(() => AzureConnectionResolver.Resolve(Resolved("https://acme.blob.core.windows.net/backups"), Env(("AZURE_STORAGE_KEY", notBase64))));
        Assert.Contains("AZURE_STORAGE_KEY", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(notBase64, error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(1L)]
    [InlineData(100L * MiB)]
    [InlineData(50L * 1024 * MiB)]
    [InlineData(800L * 1024 * MiB)]
    [InlineData(60L * 1024 * 1024 * MiB)]
    public void Block_size_lets_50000_blocks_hold_twice_the_estimate_within_azure_and_memory_limits(long? expected)
    {
        var chosen = AzureBlockSizing.Choose(expected, overrideBytes: null);

        Assert.True(chosen >= AzureBlockSizing.DefaultMinimumBlockSize);
        Assert.True(chosen <= AzureBlockSizing.MaximumBlockSize);
        Assert.Equal(0, chosen % MiB);
        if (expected is > 0 && chosen < AzureBlockSizing.MaximumBlockSize)
        {
            Assert.True(chosen * AzureBlockSizing.MaxBlocks >= 2 * expected.Value);
        }

        if (expected is null)
        {
            Assert.Equal(AzureBlockSizing.UnknownSizeBlockSize, chosen);
        }
    }

    [Fact]
    public void An_explicit_block_size_is_used_and_checked()
    {
        Assert.Equal(MiB, AzureBlockSizing.Choose(500L * 1024 * MiB, MiB));
        var error = Assert.Throws<InvalidRepositoryException>(() => AzureBlockSizing.Choose(null, MiB / 2));
        Assert.Contains("Azure block", error.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidRepositoryException>(() => AzureBlockSizing.Choose(null, 2048 * MiB));
        Assert.Throws<InvalidRepositoryException>(() => RepositoryFactory.Open("az://backups", azureOptions: new AzureRepositoryOptions { BlockSizeBytes = 512, Environment = Env(("AZURE_STORAGE_ACCOUNT", "acme")) }));
    }

    [Theory]
    [InlineData("hot", "Hot")]
    [InlineData("Cool", "Cool")]
    [InlineData("COLD", "Cold")]
    [InlineData("archive", "Archive")]
    public void Access_tiers_are_accepted_in_any_case(string tier, string canonical)
    {
        var repository = (AzureRepository)RepositoryFactory.Open("az://backups", azureOptions: new AzureRepositoryOptions { AccessTier = tier, Environment = Env(("AZURE_STORAGE_ACCOUNT", "acme")) });
        Assert.Equal(canonical, repository.ArtifactTier.ToString());
    }

    [Fact]
    public void An_unknown_access_tier_is_InvalidRepository()
    {
        var error = Assert.Throws<InvalidRepositoryException>(() => RepositoryFactory.Open("az://backups", azureOptions: new AzureRepositoryOptions { AccessTier = "Premium", Environment = Env(("AZURE_STORAGE_ACCOUNT", "acme")) }));
        Assert.Contains("Hot, Cool, Cold, Archive", error.Message, StringComparison.Ordinal);
        Assert.Equal("Cool", AzureRepositoryOptions.DefaultAccessTier);
    }

    [Fact]
    public void Storage_secrets_are_removed_from_a_child_tools_environment()
    {
        var environment = new Dictionary<string, string?>
        {
            ["AZURE_STORAGE_CONNECTION_STRING"] = "AccountName=a;AccountKey=" + Key,
            ["AZURE_STORAGE_SAS_TOKEN"] = "sig=x",
            ["AZURE_STORAGE_KEY"] = Key,
            ["AZURE_CLIENT_SECRET"] = "client-secret",
            ["AWS_SECRET_ACCESS_KEY"] = "aws-secret",
            ["AWS_SESSION_TOKEN"] = "aws-session",
            ["AWS_ACCESS_KEY_ID"] = "AKIDNOTSECRET",
            ["AZURE_STORAGE_ACCOUNT"] = "acme",
            ["PATH"] = "/usr/bin",
        };

        PgProcess.KeepOnlyInheritable(environment);

        Assert.Equal(["PATH"], environment.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Block_ids_have_one_length_and_carry_their_number()
    {
        var first = AzureArtifactUpload.BlockId("0123456789abcdef0123456789abcdef", 1);
        var last = AzureArtifactUpload.BlockId("0123456789abcdef0123456789abcdef", AzureBlockSizing.MaxBlocks);

        Assert.Equal(first.Length, last.Length);
        Assert.EndsWith("-000001", System.Text.Encoding.ASCII.GetString(Convert.FromBase64String(first)), StringComparison.Ordinal);
        Assert.True(Convert.FromBase64String(last).Length <= 64);
    }

    [Fact]
    public async Task Entra_id_tokens_are_fetched_once_and_renewed_only_near_expiry()
    {
        var inner = new CountingTokenCredential(TimeSpan.FromHours(1));
        using var cached = new CachedTokenCredential(inner);
        var storage = new TokenRequestContext(["https://storage.azure.com/.default"]);

        for (var i = 0; i < 50; i++)
        {
            Assert.Equal("token-1", (await cached.GetTokenAsync(storage, CancellationToken.None)).Token);
        }

        Assert.Equal(1, inner.Calls);
        using var expiring = new CachedTokenCredential(new CountingTokenCredential(TimeSpan.FromMinutes(2)));
        await expiring.GetTokenAsync(storage, CancellationToken.None);
        Assert.Equal("token-2", (await expiring.GetTokenAsync(storage, CancellationToken.None)).Token);
    }

    private static AzureBlobLocation Resolved(string url) => AzureBlobLocation.Parse(url);

    private static Func<string, string?> Env(params (string Name, string Value)[] variables)
    {
        var map = variables.ToDictionary(v => v.Name, v => v.Value, StringComparer.Ordinal);
        return name => map.GetValueOrDefault(name);
    }

    private sealed class CountingTokenCredential(TimeSpan lifetime) : TokenCredential
    {
        public int Calls { get; private set; }

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) => throw new NotSupportedException();

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken)
            => ValueTask.FromResult(new AccessToken($"token-{++Calls}", DateTimeOffset.UtcNow + lifetime));
    }

    private sealed class FakeTokenCredential : TokenCredential
    {
        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken) => throw new InvalidOperationException("No token in unit tests.");

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) => throw new InvalidOperationException("No token in unit tests.");
    }
}
