using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;

namespace PgBackup.TestSupport;

/// <summary>
/// A throwaway Azurite blob service (see <see cref="NodeServer"/>) with one storage account whose key
/// is random for each server (so a test can prove the key never leaks), telemetry off.
/// <para>
/// It also speaks a little of the Blob REST API itself, signed with the account key: create a
/// container, read, write and list blobs, read a blob's properties. That is the independent check
/// of what Azurite really stores — never the repository code under test, nor its SDK.
/// </para>
/// </summary>
public sealed class AzuriteServer : NodeServer
{
    public const string AccountName = "pgbackuptest";
    public const string DefaultContainer = "pgbackup-test";

    /// <summary>A REST version Azurite 3.35 knows (the SDK speaks a newer one: Azurite runs with --skipApiVersionCheck).</summary>
    private const string RestVersion = "2021-08-06";

    private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromMinutes(2) };

    private AzuriteServer()
        : base("Azurite")
    {
        AccountKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));
    }

    /// <summary>The account's key: a secret the tests hand over only through AZURE_STORAGE_* variables or options.</summary>
    public string AccountKey { get; }

    /// <summary>The account's path-style blob endpoint: http://127.0.0.1:port/account.</summary>
    public string ServiceEndpoint => $"{Endpoint}/{AccountName}";

    public string ConnectionString => $"DefaultEndpointsProtocol=http;AccountName={AccountName};AccountKey={AccountKey};BlobEndpoint={ServiceEndpoint};";

    public static AzuriteServer Start(string container = DefaultContainer) => StartAsync(container).GetAwaiter().GetResult();

    public static async Task<AzuriteServer> StartAsync(string container = DefaultContainer)
    {
        var server = new AzuriteServer();
        await server.StartAsync(
            Path.Combine("azurite", "dist", "src", "blob", "main.js"),
            [],
            ["--blobHost", "127.0.0.1", "--blobPort", server.Port.ToString(CultureInfo.InvariantCulture), "--location", server.DataDirectory, "--disableTelemetry", "--skipApiVersionCheck", "--silent"],
            new Dictionary<string, string> { ["AZURITE_ACCOUNTS"] = $"{AccountName}:{server.AccountKey}" }).ConfigureAwait(false);
        await server.CreateContainerAsync(container).ConfigureAwait(false);
        return server;
    }

    /// <summary>The blob URL of a container or blob (path segments escaped).</summary>
    public string BlobUrl(string container, string? blobName = null)
        => blobName is null ? $"{ServiceEndpoint}/{container}" : $"{ServiceEndpoint}/{container}/{string.Join('/', blobName.Split('/').Select(Uri.EscapeDataString))}";

    public void CreateContainer(string container) => CreateContainerAsync(container).GetAwaiter().GetResult();

    public async Task CreateContainerAsync(string container)
    {
        using var response = await SendAsync(HttpMethod.Put, BlobUrl(container) + "?restype=container", null, []).ConfigureAwait(false);
        await EnsureAsync(response, HttpStatusCode.Created).ConfigureAwait(false);
    }

    /// <summary>The bytes Azurite holds for a blob.</summary>
    public byte[] GetBlob(string container, string blobName) => GetBlobAsync(container, blobName).GetAwaiter().GetResult();

    public async Task<byte[]> GetBlobAsync(string container, string blobName)
    {
        using var response = await SendAsync(HttpMethod.Get, BlobUrl(container, blobName), null, []).ConfigureAwait(false);
        await EnsureAsync(response, HttpStatusCode.OK).ConfigureAwait(false);
        return await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
    }

    /// <summary>Lower-case hex SHA-256 of what Azurite holds for a blob.</summary>
    public string StoredSha256(string container, string blobName) => Convert.ToHexString(SHA256.HashData(GetBlob(container, blobName))).ToLowerInvariant();

    /// <summary>Replaces a blob (one Put Blob, Hot tier): what a careless hand or a bad disk does to a backup.</summary>
    public void PutBlob(string container, string blobName, byte[] content) => PutBlobAsync(container, blobName, content).GetAwaiter().GetResult();

    public async Task PutBlobAsync(string container, string blobName, byte[] content)
    {
        using var response = await SendAsync(HttpMethod.Put, BlobUrl(container, blobName), content, [new("x-ms-blob-type", "BlockBlob")]).ConfigureAwait(false);
        await EnsureAsync(response, HttpStatusCode.Created).ConfigureAwait(false);
    }

    /// <summary>A blob's properties as response headers, lower-case names (content-length, content-md5, x-ms-access-tier, x-ms-meta-*); null when there is no such blob.</summary>
    public Dictionary<string, string>? GetBlobProperties(string container, string blobName) => GetBlobPropertiesAsync(container, blobName).GetAwaiter().GetResult();

    public async Task<Dictionary<string, string>?> GetBlobPropertiesAsync(string container, string blobName)
    {
        using var response = await SendAsync(HttpMethod.Head, BlobUrl(container, blobName), null, []).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureAsync(response, HttpStatusCode.OK).ConfigureAwait(false);
        return response.Headers.Concat(response.Content.Headers)
            .ToDictionary(h => h.Key.ToLowerInvariant(), h => string.Join(",", h.Value), StringComparer.Ordinal);
    }

    /// <summary>Every committed blob name under <paramref name="prefix"/> (all pages), sorted ordinally.</summary>
    public List<string> ListBlobNames(string container, string prefix) => ListBlobNamesAsync(container, prefix).GetAwaiter().GetResult();

    public async Task<List<string>> ListBlobNamesAsync(string container, string prefix)
    {
        var names = new List<string>();
        string? marker = null;
        do
        {
            var url = $"{BlobUrl(container)}?restype=container&comp=list&prefix={Uri.EscapeDataString(prefix)}&maxresults=1000" + (marker is null ? string.Empty : "&marker=" + Uri.EscapeDataString(marker));
            using var response = await SendAsync(HttpMethod.Get, url, null, []).ConfigureAwait(false);
            await EnsureAsync(response, HttpStatusCode.OK).ConfigureAwait(false);
            var xml = XDocument.Parse(await response.Content.ReadAsStringAsync().ConfigureAwait(false));
            names.AddRange(xml.Descendants("Blob").Select(blob => (string)blob.Element("Name")!));
            marker = (string?)xml.Root!.Element("NextMarker") is { Length: > 0 } next ? next : null;
        }
        while (marker is not null);
        return names.Order(StringComparer.Ordinal).ToList();
    }

    private static async Task EnsureAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        if (response.StatusCode != expected)
        {
            var body = response.Content is null ? string.Empty : await response.Content.ReadAsStringAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"Azurite answered {(int)response.StatusCode} {response.ReasonPhrase} to {response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: {body}");
        }
    }

    /// <summary>Sends one request signed with the account key (Shared Key authorization).</summary>
    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string url, byte[]? body, IReadOnlyList<KeyValuePair<string, string>> headers)
    {
        var uri = new Uri(url);
        using var request = new HttpRequestMessage(method, uri);
        var msHeaders = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["x-ms-date"] = DateTime.UtcNow.ToString("R", CultureInfo.InvariantCulture),
            ["x-ms-version"] = RestVersion,
        };
        foreach (var (name, value) in headers)
        {
            msHeaders[name.ToLowerInvariant()] = value;
        }

        foreach (var (name, value) in msHeaders)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
        }

        var contentLength = body is { Length: > 0 } ? body.Length.ToString(CultureInfo.InvariantCulture) : string.Empty;
        var query = uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(pair => pair.Split('=', 2))
            .GroupBy(pair => Uri.UnescapeDataString(pair[0]).ToLowerInvariant(), StringComparer.Ordinal)
            .OrderBy(group => group.Key, StringComparer.Ordinal)
            .Select(group => $"\n{group.Key}:{string.Join(",", group.Select(pair => pair.Length > 1 ? Uri.UnescapeDataString(pair[1]) : string.Empty).Order(StringComparer.Ordinal))}");
        var stringToSign = $"{method.Method}\n\n\n{contentLength}\n\n\n\n\n\n\n\n\n"
            + string.Concat(msHeaders.Select(h => $"{h.Key}:{h.Value}\n"))
            + $"/{AccountName}{uri.AbsolutePath}" + string.Concat(query);
        var signature = Convert.ToBase64String(HMACSHA256.HashData(Convert.FromBase64String(AccountKey), Encoding.UTF8.GetBytes(stringToSign)));
        request.Headers.TryAddWithoutValidation("Authorization", $"SharedKey {AccountName}:{signature}");
        return await Http.SendAsync(request).ConfigureAwait(false);
    }
}
