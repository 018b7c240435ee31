using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace PgBackup.TestSupport;

/// <summary>What the proxy does instead of forwarding a request.</summary>
public enum ProxyFault
{
    /// <summary>HTTP 500 with the store's "internal error" code.</summary>
    InternalError,

    /// <summary>HTTP 503 with the store's "slow down" / "server busy" code.</summary>
    ServiceUnavailable,

    /// <summary>Reads the request, then resets the TCP connection without answering.</summary>
    ResetConnection,

    /// <summary>Forwards the request, sends the status, headers and half the body, then resets the connection.</summary>
    TruncateResponseBody,

    /// <summary>
    /// Forwards only the first half of the request body, without its integrity headers (Content-MD5,
    /// x-ms-content-crc64): the server answers 2xx but stores other bytes than the client sent.
    /// </summary>
    TruncateRequestBody,

    /// <summary>Forwards the request (the server acts on it), then resets the connection without answering: the client never learns it succeeded.</summary>
    DropResponse,
}

/// <summary>One request as the proxy saw it (no Authorization header, no body).</summary>
public sealed class RecordedRequest<TOperation>
    where TOperation : struct, Enum
{
    internal RecordedRequest(TOperation operation, string method, string path, string query, int? partNumber, long bodyLength, IReadOnlyDictionary<string, string> headers, int pathSegmentsBeforeKey)
    {
        Operation = operation;
        Method = method;
        Path = path;
        Query = query;
        PartNumber = partNumber;
        BodyLength = bodyLength;
        Headers = headers;
        _pathSegmentsBeforeKey = pathSegmentsBeforeKey;
    }

    private readonly int _pathSegmentsBeforeKey;

    public TOperation Operation { get; }

    public string Method { get; }

    /// <summary>Path as sent, percent-encoded: /bucket/key (S3), /account/container/blob (Azure, path-style).</summary>
    public string Path { get; }

    public string Query { get; }

    public int? PartNumber { get; }

    public long BodyLength { get; }

    /// <summary>Request headers, lower-case names (Authorization left out).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; }

    /// <summary>Status answered to the client (0 for a reset or while in progress).</summary>
    public int Status { get; internal set; }

    /// <summary>What the proxy did: "forwarded", "answered" (by the proxy itself), or the fault.</summary>
    public string Outcome { get; internal set; } = "in progress";

    /// <summary>The object key (decoded), without the bucket (account and container); empty for bucket-level requests.</summary>
    public string Key
    {
        get
        {
            var segments = Path.TrimStart('/').Split('/', _pathSegmentsBeforeKey + 1);
            return segments.Length <= _pathSegmentsBeforeKey ? string.Empty : Uri.UnescapeDataString(segments[_pathSegmentsBeforeKey]);
        }
    }

    public override string ToString() => $"{Method} {Path}{(Query.Length > 0 ? "?" + Query : string.Empty)} -> {Status} ({Outcome})";
}

/// <summary>Requests of one operation held back until <see cref="Release"/> (to act while they wait).</summary>
public sealed class RequestHold<TOperation>
    where TOperation : struct, Enum
{
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _held;

    internal RequestHold(TOperation operation)
    {
        Operation = operation;
    }

    public TOperation Operation { get; }

    public int HeldCount => Volatile.Read(ref _held);

    public void Release() => _released.TrySetResult();

    /// <summary>Waits until at least <paramref name="count"/> requests are being held.</summary>
    public async Task WaitForHeldAsync(int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (HeldCount < count)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Only {HeldCount} {Operation} request(s) arrived, expected {count}.");
            }

            await Task.Delay(20).ConfigureAwait(false);
        }
    }

    public void WaitForHeld(int count, TimeSpan timeout) => WaitForHeldAsync(count, timeout).GetAwaiter().GetResult();

    internal Task HoldAsync()
    {
        Interlocked.Increment(ref _held);
        return _released.Task;
    }
}

/// <summary>
/// A loopback HTTP/1.1 proxy in front of a storage server (s3rver, Azurite) that records every
/// request, injects faults (500, 503, connection resets, truncated bodies, lost answers) into chosen
/// ones and can hold requests back. A store's subclass says which operation a request is, where a
/// part number is, how the store spells an error, and may answer some requests itself. Usable from
/// xunit and (no delegates) from Pester.
/// </summary>
/// <typeparam name="TOperation">The store's operations (<see cref="S3Operation"/>, <see cref="AzureOperation"/>).</typeparam>
public abstract class FaultProxy<TOperation> : IAsyncDisposable, IDisposable
    where TOperation : struct, Enum
{
    private static readonly HashSet<string> HopByHopHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        "host", "connection", "keep-alive", "expect", "transfer-encoding", "content-length", "proxy-connection", "te", "upgrade",
    };

    private static readonly HashSet<string> IntegrityHeaders = new(StringComparer.OrdinalIgnoreCase) { "content-md5", "x-ms-content-crc64" };

    private readonly TcpListener _listener;
    private readonly HttpClient _forwarder;
    private readonly Uri _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<RecordedRequest<TOperation>> _requests = [];
    private readonly List<FaultRule> _faults = [];
    private readonly List<RequestHold<TOperation>> _holds = [];
    private readonly Task _acceptLoop;

    protected FaultProxy(string targetEndpoint)
    {
        _target = new Uri(targetEndpoint.TrimEnd('/'));
        _forwarder = new HttpClient(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, UseCookies = false, AutomaticDecompression = DecompressionMethods.None })
        {
            Timeout = TimeSpan.FromMinutes(5),
        };
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port { get; }

    public string Endpoint => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Every request so far, in arrival order.</summary>
    public IReadOnlyList<RecordedRequest<TOperation>> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    public IReadOnlyList<RecordedRequest<TOperation>> RequestsOf(TOperation operation) => Requests.Where(r => r.Operation.Equals(operation)).ToList();

    /// <summary>The next <paramref name="times"/> requests of <paramref name="operation"/> (for part uploads optionally only part <paramref name="partNumber"/>; 0 = any) get <paramref name="fault"/>.</summary>
    public void InjectFault(TOperation operation, ProxyFault fault, int times = 1, int partNumber = 0)
    {
        lock (_faults)
        {
            _faults.Add(new FaultRule(operation, partNumber, fault) { Remaining = times });
        }
    }

    /// <summary>Holds every request of <paramref name="operation"/> from now on until the hold is released.</summary>
    public RequestHold<TOperation> Hold(TOperation operation)
    {
        var hold = new RequestHold<TOperation>(operation);
        lock (_holds)
        {
            _holds.Add(hold);
        }

        return hold;
    }

    public async Task<RecordedRequest<TOperation>> WaitForRequestAsync(TOperation operation, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var found = Requests.FirstOrDefault(r => r.Operation.Equals(operation));
            if (found is not null)
            {
                return found;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"No {operation} request within {timeout}. Seen:\n{string.Join('\n', Requests)}");
            }

            await Task.Delay(20).ConfigureAwait(false);
        }
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    public async ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        lock (_holds)
        {
            _holds.ForEach(h => h.Release());
        }

        try
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _forwarder.Dispose();
        _stop.Dispose();
    }

    /// <summary>Which operation a request is (path-style requests).</summary>
    protected abstract TOperation Classify(string method, string path, IReadOnlyDictionary<string, string> query);

    /// <summary>The part number of a part upload, else null.</summary>
    protected abstract int? PartNumberOf(TOperation operation, IReadOnlyDictionary<string, string> query);

    /// <summary>How many path segments come before an object key (S3: bucket; Azure: account, container).</summary>
    protected abstract int PathSegmentsBeforeKey { get; }

    /// <summary>The store's error answer for an injected 500 or 503: status, error code, headers, body.</summary>
    protected abstract (int Status, string Code, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body) ErrorResponse(ProxyFault fault);

    /// <summary>A status the proxy answers itself instead of forwarding (an operation the server lacks), else null.</summary>
    protected virtual int? AnswerItself(TOperation operation) => null;

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            _ = Task.Run(() => ServeConnectionAsync(client));
        }
    }

    private async Task ServeConnectionAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var reader = new HttpRequestReader(stream);
                while (!_stop.IsCancellationRequested)
                {
                    var request = await reader.ReadRequestAsync(stream, _stop.Token).ConfigureAwait(false);
                    if (request is null)
                    {
                        return;
                    }

                    if (!await HandleAsync(client, stream, request).ConfigureAwait(false))
                    {
                        return;
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
                // The client went away (or we reset it on purpose).
            }
        }
    }

    /// <returns>false when the connection was reset.</returns>
    private async Task<bool> HandleAsync(TcpClient client, NetworkStream stream, ParsedRequest request)
    {
        var operation = Classify(request.Method, request.Path, request.Query);
        var recorded = new RecordedRequest<TOperation>(
            operation,
            request.Method,
            request.Path,
            request.QueryText,
            PartNumberOf(operation, request.Query),
            request.Body.Length,
            request.Headers.Where(h => !h.Key.Equals("authorization", StringComparison.OrdinalIgnoreCase)).ToDictionary(h => h.Key.ToLowerInvariant(), h => h.Value),
            PathSegmentsBeforeKey);
        lock (_requests)
        {
            _requests.Add(recorded);
        }

        RequestHold<TOperation>[] holds;
        lock (_holds)
        {
            holds = _holds.Where(h => h.Operation.Equals(recorded.Operation)).ToArray();
        }

        foreach (var hold in holds)
        {
            await hold.HoldAsync().WaitAsync(_stop.Token).ConfigureAwait(false);
        }

        var fault = TakeFault(recorded);
        switch (fault)
        {
            case ProxyFault.ResetConnection:
                recorded.Outcome = "reset";
                Reset(client);
                return false;
            case ProxyFault.InternalError:
            case ProxyFault.ServiceUnavailable:
                var (status, code, errorHeaders, body) = ErrorResponse(fault.Value);
                await WriteResponseAsync(stream, status, errorHeaders, body, request.Method).ConfigureAwait(false);
                recorded.Status = status;
                recorded.Outcome = code;
                return true;
        }

        if (AnswerItself(recorded.Operation) is { } answer)
        {
            await WriteResponseAsync(stream, answer, [], [], request.Method).ConfigureAwait(false);
            recorded.Status = answer;
            recorded.Outcome = "answered";
            return true;
        }

        using var forward = new HttpRequestMessage(new HttpMethod(request.Method), new Uri(_target, request.Target));
        if (request.Body.Length > 0 || request.Method is "PUT" or "POST")
        {
            forward.Content = fault == ProxyFault.TruncateRequestBody
                ? new ByteArrayContent(request.Body, 0, request.Body.Length / 2)
                : new ByteArrayContent(request.Body);
        }

        foreach (var (name, value) in request.Headers)
        {
            if (fault == ProxyFault.TruncateRequestBody && IntegrityHeaders.Contains(name))
            {
                // The server could tell the body is not what the client sent: the fault is that it cannot.
                continue;
            }

            if (name.Equals("host", StringComparison.OrdinalIgnoreCase))
            {
                // Kept as the client signed it.
                forward.Headers.Host = value;
            }
            else if (!HopByHopHeaders.Contains(name) && !forward.Headers.TryAddWithoutValidation(name, value))
            {
                forward.Content?.Headers.TryAddWithoutValidation(name, value);
            }
        }

        using var response = await _forwarder.SendAsync(forward, HttpCompletionOption.ResponseContentRead, _stop.Token).ConfigureAwait(false);
        recorded.Status = (int)response.StatusCode;
        var responseBody = await response.Content.ReadAsByteArrayAsync(_stop.Token).ConfigureAwait(false);
        var headers = response.Headers.Concat(response.Content.Headers)
            .Where(h => !HopByHopHeaders.Contains(h.Key))
            .Select(h => new KeyValuePair<string, string>(h.Key, string.Join(",", h.Value)))
            .ToList();
        if (request.Method == "HEAD" && response.Content.Headers.ContentLength is { } headLength)
        {
            headers.Add(new("Content-Length", headLength.ToString(CultureInfo.InvariantCulture)));
        }

        if (fault == ProxyFault.TruncateResponseBody)
        {
            await WriteResponseAsync(stream, (int)response.StatusCode, headers, responseBody, request.Method, bodyBytesToSend: responseBody.Length / 2).ConfigureAwait(false);
            recorded.Outcome = "truncated";
            Reset(client);
            return false;
        }

        if (fault == ProxyFault.DropResponse)
        {
            recorded.Outcome = "response dropped";
            Reset(client);
            return false;
        }

        await WriteResponseAsync(stream, (int)response.StatusCode, headers, responseBody, request.Method).ConfigureAwait(false);
        recorded.Outcome = fault == ProxyFault.TruncateRequestBody ? "body truncated" : "forwarded";
        return true;
    }

    private static void Reset(TcpClient client)
    {
        client.Client.LingerState = new LingerOption(true, 0);
        client.Client.Close();
    }

    private ProxyFault? TakeFault(RecordedRequest<TOperation> request)
    {
        lock (_faults)
        {
            var rule = _faults.FirstOrDefault(f => f.Remaining > 0 && f.Operation.Equals(request.Operation) && (f.PartNumber == 0 || f.PartNumber == request.PartNumber));
            if (rule is null)
            {
                return null;
            }

            rule.Remaining--;
            return rule.Fault;
        }
    }

    private static async Task WriteResponseAsync(NetworkStream stream, int status, IEnumerable<KeyValuePair<string, string>> headers, byte[] body, string method, int? bodyBytesToSend = null)
    {
        var head = new StringBuilder();
        head.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {ReasonPhrase(status)}\r\n");
        foreach (var (name, value) in headers)
        {
            head.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        if (method != "HEAD")
        {
            head.Append(CultureInfo.InvariantCulture, $"Content-Length: {body.Length}\r\n");
        }

        head.Append("\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head.ToString())).ConfigureAwait(false);
        if (method != "HEAD" && body.Length > 0)
        {
            await stream.WriteAsync(body.AsMemory(0, bodyBytesToSend ?? body.Length)).ConfigureAwait(false);
        }

        await stream.FlushAsync().ConfigureAwait(false);
    }

    private static string ReasonPhrase(int status) => status switch
    {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    };

    private sealed class FaultRule(TOperation operation, int partNumber, ProxyFault fault)
    {
        public TOperation Operation { get; } = operation;

        public int PartNumber { get; } = partNumber;

        public ProxyFault Fault { get; } = fault;

        public int Remaining { get; set; }
    }

    private sealed record ParsedRequest(string Method, string Target, string Path, string QueryText, IReadOnlyDictionary<string, string> Query, List<KeyValuePair<string, string>> Headers, byte[] Body);

    /// <summary>Reads HTTP/1.1 requests (Content-Length bodies) from a connection, keeping leftover bytes between them.</summary>
    private sealed class HttpRequestReader(NetworkStream stream)
    {
        private byte[] _buffer = new byte[64 * 1024];
        private int _start;
        private int _end;

        public async Task<ParsedRequest?> ReadRequestAsync(NetworkStream output, CancellationToken cancellationToken)
        {
            int headerEnd;
            while ((headerEnd = IndexOfHeaderEnd()) < 0)
            {
                if (!await FillAsync(cancellationToken).ConfigureAwait(false))
                {
                    return null;
                }
            }

            var headText = Encoding.ASCII.GetString(_buffer, _start, headerEnd - _start);
            _start = headerEnd + 4;
            var lines = headText.Split("\r\n");
            var requestLine = lines[0].Split(' ');
            var method = requestLine[0];
            var target = requestLine[1];
            var headers = lines.Skip(1).Where(l => l.Contains(':', StringComparison.Ordinal))
                .Select(l => new KeyValuePair<string, string>(l[..l.IndexOf(':', StringComparison.Ordinal)].Trim(), l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim()))
                .ToList();
            string? Header(string name) => headers.FirstOrDefault(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;

            if (Header("transfer-encoding") is not null)
            {
                throw new IOException("FaultProxy does not support chunked request bodies.");
            }

            if (string.Equals(Header("expect"), "100-continue", StringComparison.OrdinalIgnoreCase))
            {
                await output.WriteAsync("HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
            }

            var length = long.TryParse(Header("content-length"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) ? l : 0;
            var body = new byte[length];
            var copied = 0;
            while (copied < length)
            {
                if (_start == _end && !await FillAsync(cancellationToken).ConfigureAwait(false))
                {
                    throw new IOException("The client closed the connection in the middle of a request body.");
                }

                var count = (int)Math.Min(length - copied, _end - _start);
                Buffer.BlockCopy(_buffer, _start, body, copied, count);
                _start += count;
                copied += count;
            }

            var question = target.IndexOf('?', StringComparison.Ordinal);
            var path = question < 0 ? target : target[..question];
            var queryText = question < 0 ? string.Empty : target[(question + 1)..];
            var query = queryText.Split('&', StringSplitOptions.RemoveEmptyEntries)
                .Select(p => p.Split('=', 2))
                .GroupBy(p => Uri.UnescapeDataString(p[0]), StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.First().Length > 1 ? Uri.UnescapeDataString(g.First()[1]) : string.Empty, StringComparer.Ordinal);
            return new ParsedRequest(method, target, path, queryText, query, headers, body);
        }

        private int IndexOfHeaderEnd()
        {
            var span = _buffer.AsSpan(_start, _end - _start);
            var index = span.IndexOf("\r\n\r\n"u8);
            return index < 0 ? -1 : _start + index;
        }

        private async Task<bool> FillAsync(CancellationToken cancellationToken)
        {
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            if (_end == _buffer.Length)
            {
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }

            var read = await stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            _end += read;
            return read > 0;
        }
    }
}
