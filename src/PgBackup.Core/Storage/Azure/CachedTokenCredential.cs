using Azure.Core;

namespace PgBackup.Storage.Azure;

/// <summary>
/// Keeps a token until shortly before it expires. Every blob client PgBackup makes has its own
/// pipeline, and a credential such as the Azure CLI's starts a process per token: listing 1,000
/// manifests must not run <c>az account get-access-token</c> 1,000 times.
/// </summary>
internal sealed class CachedTokenCredential(TokenCredential inner) : TokenCredential, IDisposable
{
    /// <summary>A token this close to expiry is renewed rather than handed out.</summary>
    private static readonly TimeSpan RenewBefore = TimeSpan.FromMinutes(5);

    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, AccessToken> _tokens = new(StringComparer.Ordinal);

    public TokenCredential Inner => inner;

    public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        => GetTokenAsync(requestContext, cancellationToken).AsTask().GetAwaiter().GetResult();

    public override async ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken)
    {
        var key = string.Join(' ', requestContext.Scopes) + "|" + requestContext.TenantId + "|" + requestContext.Claims;
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_tokens.TryGetValue(key, out var cached) && cached.ExpiresOn - RenewBefore > DateTimeOffset.UtcNow)
            {
                return cached;
            }

            var token = await inner.GetTokenAsync(requestContext, cancellationToken).ConfigureAwait(false);
            _tokens[key] = token;
            return token;
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();
}
