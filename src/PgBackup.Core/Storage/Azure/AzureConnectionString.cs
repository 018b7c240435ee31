using PgBackup.Errors;

namespace PgBackup.Storage.Azure;

/// <summary>
/// An Azure Storage connection string (<c>AccountName=…;AccountKey=…;EndpointSuffix=…</c>,
/// <c>BlobEndpoint=…;SharedAccessSignature=…</c>, <c>UseDevelopmentStorage=true</c>), reduced to
/// what a blob repository needs. Errors never repeat the string: it holds a key or a SAS.
/// </summary>
internal sealed record AzureConnectionString
{
    /// <summary>The emulator's documented, public development account (not a secret).</summary>
    public const string DevelopmentAccount = "devstoreaccount1";

    private const string DevelopmentAccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private AzureConnectionString(Uri serviceUri, string accountName, string? accountKey, string? sharedAccessSignature)
    {
        ServiceUri = serviceUri;
        AccountName = accountName;
        AccountKey = accountKey;
        SharedAccessSignature = sharedAccessSignature;
    }

    /// <summary>The blob endpoint: BlobEndpoint, else protocol://account.blob.suffix, else the emulator's.</summary>
    public Uri ServiceUri { get; }

    public string AccountName { get; }

    public string? AccountKey { get; }

    /// <summary>Without a leading '?'.</summary>
    public string? SharedAccessSignature { get; }

    /// <param name="source">Where the string came from, for errors (e.g. the variable's name).</param>
    public static AzureConnectionString Parse(string connectionString, string source)
    {
        var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var pair in connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw Invalid(source, "every part must be Name=Value");
            }

            values[pair[..equals].Trim()] = pair[(equals + 1)..].Trim();
        }

        string? Value(string name) => values.TryGetValue(name, out var value) && value.Length > 0 ? value : null;

        if (string.Equals(Value("UseDevelopmentStorage"), "true", StringComparison.OrdinalIgnoreCase))
        {
            var proxy = Value("DevelopmentStorageProxyUri") is { } proxyUri && Uri.TryCreate(proxyUri, UriKind.Absolute, out var parsed) ? parsed.GetLeftPart(UriPartial.Scheme) + parsed.Host : "http://127.0.0.1";
            return new AzureConnectionString(new Uri($"{proxy}:10000/{DevelopmentAccount}"), DevelopmentAccount, DevelopmentAccountKey, null);
        }

        var sas = Value("SharedAccessSignature")?.TrimStart('?');
        var key = Value("AccountKey");
        var account = Value("AccountName")?.ToLowerInvariant();
        Uri serviceUri;
        if (Value("BlobEndpoint") is { } blobEndpoint)
        {
            (serviceUri, var endpointAccount) = ParseEndpoint(blobEndpoint, source);
            account ??= endpointAccount;
        }
        else
        {
            if (account is null)
            {
                throw Invalid(source, "it names neither AccountName nor BlobEndpoint");
            }

            var protocol = Value("DefaultEndpointsProtocol")?.ToLowerInvariant() ?? "https";
            if (protocol is not ("https" or "http"))
            {
                throw Invalid(source, "DefaultEndpointsProtocol must be https or http");
            }

            (serviceUri, _) = ParseEndpoint($"{protocol}://{account}.blob.{Value("EndpointSuffix") ?? "core.windows.net"}", source);
        }

        if (!AzureBlobLocation.AccountNamePattern().IsMatch(account))
        {
            throw Invalid(source, "its AccountName is not a valid storage account name");
        }

        return new AzureConnectionString(serviceUri, account, key, sas);
    }

    /// <summary>An account's blob endpoint URL (<c>https://account.blob.core.windows.net</c> or path-style <c>http://host:port/account</c>).</summary>
    internal static (Uri ServiceUri, string AccountName) ParseEndpoint(string endpoint, string source)
    {
        try
        {
            var probe = AzureBlobLocation.Parse(endpoint.Trim().TrimEnd('/') + "/probe");
            return (probe.ServiceUri!, probe.AccountName!);
        }
        catch (InvalidRepositoryException)
        {
            throw new InvalidRepositoryException($"The Azure blob endpoint from {source} is not an account endpoint such as https://account.blob.core.windows.net or http://127.0.0.1:10000/account.", source);
        }
    }

    private static InvalidRepositoryException Invalid(string source, string reason)
        => new($"{source} is not a usable Azure Storage connection string: {reason}.", source);
}
