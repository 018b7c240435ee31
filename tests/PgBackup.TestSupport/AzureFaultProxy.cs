using System.Globalization;
using System.Text;

namespace PgBackup.TestSupport;

/// <summary>The Azure Blob operations the proxy tells apart (path-style requests: /account/container/blob).</summary>
public enum AzureOperation
{
    Other,
    CreateContainer,
    ListBlobs,
    GetBlob,
    GetBlobProperties,
    PutBlob,
    PutBlock,
    PutBlockList,
    GetBlockList,
    DeleteBlob,
}

/// <summary>
/// <see cref="FaultProxy{TOperation}"/> in front of Azurite. A Put Block's part number is the
/// 1-based block number PgBackup writes at the end of its block ids (<c>nonce-000042</c>).
/// </summary>
public sealed class AzureFaultProxy : FaultProxy<AzureOperation>
{
    private AzureFaultProxy(string targetEndpoint)
        : base(targetEndpoint)
    {
    }

    /// <summary>The account's blob endpoint through the proxy (<see cref="AzuriteServer.ServiceEndpoint"/>'s counterpart).</summary>
    public string ServiceEndpoint => $"{Endpoint}/{AzuriteServer.AccountName}";

    /// <param name="targetEndpoint">Azurite's http://127.0.0.1:port (without the account).</param>
    public static AzureFaultProxy Start(string targetEndpoint) => new(targetEndpoint);

    protected override int PathSegmentsBeforeKey => 2;

    protected override AzureOperation Classify(string method, string path, IReadOnlyDictionary<string, string> query)
    {
        var hasBlob = path.Trim('/').Split('/').Length >= 3;
        var comp = query.GetValueOrDefault("comp");
        return method switch
        {
            "PUT" when comp == "block" => AzureOperation.PutBlock,
            "PUT" when comp == "blocklist" => AzureOperation.PutBlockList,
            "PUT" when comp is null && hasBlob => AzureOperation.PutBlob,
            "PUT" when comp is null && query.GetValueOrDefault("restype") == "container" => AzureOperation.CreateContainer,
            "GET" when comp == "list" => AzureOperation.ListBlobs,
            "GET" when comp == "blocklist" => AzureOperation.GetBlockList,
            "GET" when comp is null && hasBlob => AzureOperation.GetBlob,
            "HEAD" when comp is null && hasBlob => AzureOperation.GetBlobProperties,
            "DELETE" when comp is null && hasBlob => AzureOperation.DeleteBlob,
            _ => AzureOperation.Other,
        };
    }

    protected override int? PartNumberOf(AzureOperation operation, IReadOnlyDictionary<string, string> query)
    {
        if (operation != AzureOperation.PutBlock || !query.TryGetValue("blockid", out var blockId))
        {
            return null;
        }

        try
        {
            var text = Encoding.ASCII.GetString(Convert.FromBase64String(blockId));
            return int.TryParse(text[(text.LastIndexOf('-') + 1)..], NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    protected override (int Status, string Code, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body) ErrorResponse(ProxyFault fault)
    {
        var (status, code) = fault == ProxyFault.InternalError ? (500, "InternalError") : (503, "ServerBusy");
        var body = Encoding.UTF8.GetBytes($"<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>Injected by AzureFaultProxy</Message></Error>");
        return (status, code, [new("Content-Type", "application/xml"), new("x-ms-error-code", code)], body);
    }
}
