using System.Globalization;
using System.Text;

namespace PgBackup.TestSupport;

/// <summary>The S3 operations the proxy tells apart (path-style requests).</summary>
public enum S3Operation
{
    Other,
    ListObjects,
    GetObject,
    HeadObject,
    PutObject,
    DeleteObject,
    CreateMultipartUpload,
    UploadPart,
    CompleteMultipartUpload,
    AbortMultipartUpload,
}

/// <summary>
/// <see cref="FaultProxy{TOperation}"/> in front of s3rver. It answers AbortMultipartUpload itself
/// with 204 — s3rver does not implement it, and the tests need to see that it was sent.
/// </summary>
public sealed class S3FaultProxy : FaultProxy<S3Operation>
{
    private S3FaultProxy(string targetEndpoint)
        : base(targetEndpoint)
    {
    }

    public static S3FaultProxy Start(string targetEndpoint) => new(targetEndpoint);

    protected override int PathSegmentsBeforeKey => 1;

    protected override S3Operation Classify(string method, string path, IReadOnlyDictionary<string, string> query)
    {
        var hasKey = path.TrimStart('/').Contains('/', StringComparison.Ordinal) && !path.EndsWith('/');
        return method switch
        {
            "DELETE" when query.ContainsKey("uploadId") => S3Operation.AbortMultipartUpload,
            "DELETE" when hasKey => S3Operation.DeleteObject,
            "POST" when query.ContainsKey("uploads") => S3Operation.CreateMultipartUpload,
            "POST" when query.ContainsKey("uploadId") => S3Operation.CompleteMultipartUpload,
            "PUT" when query.ContainsKey("uploadId") && query.ContainsKey("partNumber") => S3Operation.UploadPart,
            "PUT" when hasKey => S3Operation.PutObject,
            "GET" when hasKey => S3Operation.GetObject,
            "GET" when query.ContainsKey("list-type") || query.Count == 0 || query.ContainsKey("prefix") => S3Operation.ListObjects,
            "HEAD" when hasKey => S3Operation.HeadObject,
            _ => S3Operation.Other,
        };
    }

    protected override int? PartNumberOf(S3Operation operation, IReadOnlyDictionary<string, string> query)
        => query.TryGetValue("partNumber", out var part) && int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number : null;

    protected override (int Status, string Code, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body) ErrorResponse(ProxyFault fault)
    {
        var (status, code) = fault == ProxyFault.InternalError ? (500, "InternalError") : (503, "SlowDown");
        var body = Encoding.UTF8.GetBytes($"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>Injected by S3FaultProxy</Message></Error>");
        return (status, code, [new("Content-Type", "application/xml")], body);
    }

    protected override int? AnswerItself(S3Operation operation) => operation == S3Operation.AbortMultipartUpload ? 204 : null;
}
