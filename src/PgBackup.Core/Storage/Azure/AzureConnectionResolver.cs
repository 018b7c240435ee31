using Azure;
using Azure.Core;
using Azure.Identity;
using Azure.Storage;
using PgBackup.Errors;

namespace PgBackup.Storage.Azure;

/// <summary>Which of the documented sources gave an Azure repository its credentials.</summary>
internal enum AzureCredentialSource
{
    /// <summary>The account key or SAS in AZURE_STORAGE_CONNECTION_STRING.</summary>
    ConnectionString,

    /// <summary>AZURE_STORAGE_SAS_TOKEN.</summary>
    SasToken,

    /// <summary>AZURE_STORAGE_KEY (the key of AZURE_STORAGE_ACCOUNT, or of the location's account).</summary>
    AccountKey,

    /// <summary>Microsoft Entra ID: Azure Pipelines workload identity (AZURESUBSCRIPTION_*), then Azure.Identity's DefaultAzureCredential.</summary>
    DefaultAzureCredential,
}

/// <summary>The account endpoint and credentials an Azure repository talks to; holds secrets, so it never prints them.</summary>
internal sealed class AzureConnection
{
    internal AzureConnection(Uri serviceUri, string accountName, AzureCredentialSource source, StorageSharedKeyCredential? sharedKey, AzureSasCredential? sas, TokenCredential? token, IReadOnlyList<string> secrets)
    {
        ServiceUri = serviceUri;
        AccountName = accountName;
        Source = source;
        SharedKey = sharedKey;
        Sas = sas;
        Token = token;
        Secrets = secrets;
    }

    public Uri ServiceUri { get; }

    public string AccountName { get; }

    public AzureCredentialSource Source { get; }

    internal StorageSharedKeyCredential? SharedKey { get; }

    internal AzureSasCredential? Sas { get; }

    internal TokenCredential? Token { get; }

    /// <summary>Secret values that must never leave the process (masked in error text as a last line of defence).</summary>
    internal IReadOnlyList<string> Secrets { get; }

    /// <summary>Where the credentials came from, for messages ("the SAS token in AZURE_STORAGE_SAS_TOKEN").</summary>
    public string DescribeSource() => Source switch
    {
        AzureCredentialSource.ConnectionString => $"the connection string in {AzureConnectionResolver.ConnectionStringVariable}",
        AzureCredentialSource.SasToken => $"the SAS token in {AzureConnectionResolver.SasTokenVariable}",
        AzureCredentialSource.AccountKey => $"the account key in {AzureConnectionResolver.KeyVariable}",
        _ => "Microsoft Entra ID (managed identity, workload identity, Azure CLI login …)",
    };

    public override string ToString() => $"{ServiceUri} ({DescribeSource()})";
}

/// <summary>
/// Finds an Azure repository's account and credentials, in one documented order.
/// <para>Account (az:// only; URLs name it): a remembered endpoint, AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT.</para>
/// <para>Credentials: AZURE_STORAGE_CONNECTION_STRING (when it names the same account endpoint),
/// AZURE_STORAGE_SAS_TOKEN, AZURE_STORAGE_KEY (both for AZURE_STORAGE_ACCOUNT, or the location's account
/// when that is unset), else Microsoft Entra ID: Azure Pipelines workload identity federation when the
/// AzureCLI/AzurePowerShell task variables are present, then DefaultAzureCredential (environment, workload
/// identity, managed identity, Azure CLI / PowerShell / azd login). Pure apart from building credential objects: unit-tested.</para>
/// </summary>
internal static class AzureConnectionResolver
{
    public const string ConnectionStringVariable = "AZURE_STORAGE_CONNECTION_STRING";
    public const string SasTokenVariable = "AZURE_STORAGE_SAS_TOKEN";
    public const string AccountVariable = "AZURE_STORAGE_ACCOUNT";
    public const string KeyVariable = "AZURE_STORAGE_KEY";

    /// <summary>Where an Azure Pipelines service connection with workload identity federation leaves its identity.</summary>
    private const string PipelinesServiceConnectionVariable = "AZURESUBSCRIPTION_SERVICE_CONNECTION_ID";
    private const string PipelinesClientIdVariable = "AZURESUBSCRIPTION_CLIENT_ID";
    private const string PipelinesTenantIdVariable = "AZURESUBSCRIPTION_TENANT_ID";
    private const string PipelinesAccessTokenVariable = "SYSTEM_ACCESSTOKEN";

    /// <summary>The account endpoint of <paramref name="location"/>: itself for URLs; for az:// the first of the documented sources.</summary>
    public static AzureBlobLocation ResolveAccount(AzureBlobLocation location, string? serviceEndpoint, Func<string, string?> environment)
    {
        if (location.ServiceUri is not null)
        {
            return location;
        }

        if (!string.IsNullOrWhiteSpace(serviceEndpoint))
        {
            var (uri, account) = AzureConnectionString.ParseEndpoint(serviceEndpoint, "the remembered Azure endpoint");
            return location.WithService(uri, account);
        }

        if (Read(environment, ConnectionStringVariable) is { } connectionString)
        {
            var parsed = AzureConnectionString.Parse(connectionString, ConnectionStringVariable);
            return location.WithService(parsed.ServiceUri, parsed.AccountName);
        }

        if (Read(environment, AccountVariable) is { } accountName)
        {
            var (uri, account) = AzureConnectionString.ParseEndpoint($"https://{accountName.ToLowerInvariant()}.blob.core.windows.net", AccountVariable);
            return location.WithService(uri, account);
        }

        throw new InvalidRepositoryException(
            $"{location} names no storage account: set {AccountVariable} (or {ConnectionStringVariable}), or use https://<account>.blob.core.windows.net/{location.Container}.", location.ToString());
    }

    /// <param name="location">A location whose account is known (<see cref="ResolveAccount"/>).</param>
    /// <param name="defaultCredential">Builds the Entra ID credential (hosts and tests may pass their own; no network is touched until a token is needed). Its tokens are cached.</param>
    public static AzureConnection Resolve(AzureBlobLocation location, Func<string, string?> environment, Func<TokenCredential>? defaultCredential = null)
    {
        var serviceUri = location.ServiceUri ?? throw new ArgumentException("The location's account is not resolved.", nameof(location));
        var account = location.AccountName!;

        if (Read(environment, ConnectionStringVariable) is { } connectionString)
        {
            var parsed = AzureConnectionString.Parse(connectionString, ConnectionStringVariable);
            if (SameEndpoint(parsed.ServiceUri, serviceUri) && (parsed.AccountKey is not null || parsed.SharedAccessSignature is not null))
            {
                return parsed.AccountKey is not null
                    ? new AzureConnection(serviceUri, account, AzureCredentialSource.ConnectionString, SharedKey(account, parsed.AccountKey, ConnectionStringVariable), null, null, [connectionString, parsed.AccountKey])
                    : new AzureConnection(serviceUri, account, AzureCredentialSource.ConnectionString, null, new AzureSasCredential(parsed.SharedAccessSignature!), null, [connectionString, parsed.SharedAccessSignature!]);
            }
        }

        // AZURE_STORAGE_SAS_TOKEN and AZURE_STORAGE_KEY belong to AZURE_STORAGE_ACCOUNT: never offer them to another account.
        var forThisAccount = Read(environment, AccountVariable) is not { } named || named.Equals(account, StringComparison.OrdinalIgnoreCase);
        if (forThisAccount && Read(environment, SasTokenVariable) is { } sasToken)
        {
            var sas = sasToken.TrimStart('?');
            return new AzureConnection(serviceUri, account, AzureCredentialSource.SasToken, null, new AzureSasCredential(sas), null, [sasToken, sas]);
        }

        if (forThisAccount && Read(environment, KeyVariable) is { } key)
        {
            return new AzureConnection(serviceUri, account, AzureCredentialSource.AccountKey, SharedKey(account, key, KeyVariable), null, null, [key]);
        }

        if (serviceUri.Scheme != Uri.UriSchemeHttps)
        {
            // The SDK refuses to send bearer tokens in clear text, and rightly so.
            throw new RepositoryAccessDeniedException(
                $"No credentials for {location}: over http the account needs {ConnectionStringVariable}, {SasTokenVariable} or {AccountVariable} + {KeyVariable} (Microsoft Entra ID tokens are only sent over https).",
                location.ToString());
        }

        var token = (defaultCredential ?? (() => EntraIdCredential(environment)))();
        return new AzureConnection(serviceUri, account, AzureCredentialSource.DefaultAzureCredential, null, null, new CachedTokenCredential(token), []);
    }

    private static TokenCredential EntraIdCredential(Func<string, string?> environment)
    {
        var chain = new List<TokenCredential>();
        if (Read(environment, PipelinesServiceConnectionVariable) is { } serviceConnection
            && Read(environment, PipelinesClientIdVariable) is { } clientId
            && Read(environment, PipelinesTenantIdVariable) is { } tenantId
            && Read(environment, PipelinesAccessTokenVariable) is { } accessToken)
        {
            chain.Add(new AzurePipelinesCredential(tenantId, clientId, serviceConnection, accessToken));
        }

        chain.Add(new DefaultAzureCredential());
        return chain.Count == 1 ? chain[0] : new ChainedTokenCredential([.. chain]);
    }

    private static StorageSharedKeyCredential SharedKey(string account, string key, string source)
    {
        try
        {
            return new StorageSharedKeyCredential(account, key);
        }
        catch (FormatException)
        {
            // Never the key itself in the message.
            throw new InvalidRepositoryException($"The account key from {source} is not valid base64.", source);
        }
    }

    private static bool SameEndpoint(Uri left, Uri right)
        => string.Equals(left.ToString().TrimEnd('/'), right.ToString().TrimEnd('/'), StringComparison.OrdinalIgnoreCase);

    private static string? Read(Func<string, string?> environment, string name) => environment(name) is { } value && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;
}
