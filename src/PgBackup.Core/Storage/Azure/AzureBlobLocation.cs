using System.Text.RegularExpressions;
using PgBackup.Errors;

namespace PgBackup.Storage.Azure;

/// <summary>
/// A parsed Azure Blob repository location, in one of three forms:
/// <list type="bullet">
/// <item><c>az://container/prefix</c>: the account comes from the environment (AZURE_STORAGE_ACCOUNT or the connection string), see <see cref="AzureConnectionResolver"/>;</item>
/// <item><c>https://account.blob.core.windows.net/container/prefix</c> (any cloud's <c>account.blob.suffix</c>);</item>
/// <item>path-style <c>http(s)://host:port/account/container/prefix</c>, for Azurite and other emulators.</item>
/// </list>
/// The prefix has no leading or trailing '/'. The path is taken literally (blob names may hold '%'),
/// and a query string is refused: a SAS token in a location would show up in every listing and log.
/// </summary>
internal sealed partial record AzureBlobLocation
{
    public const string Scheme = "az://";

    private AzureBlobLocation(Uri? serviceUri, string? accountName, string container, string prefix)
    {
        ServiceUri = serviceUri;
        AccountName = accountName;
        Container = container;
        Prefix = prefix;
    }

    /// <summary>The account's blob service endpoint the location names (<c>https://account.blob.core.windows.net</c>, <c>http://127.0.0.1:10000/account</c>); null for az://.</summary>
    public Uri? ServiceUri { get; }

    /// <summary>The storage account the location names; null for az://.</summary>
    public string? AccountName { get; }

    public string Container { get; }

    public string Prefix { get; }

    /// <summary>Whether the location is an Azure Blob one: az://, or an http(s) URL (PgBackup's only URL-addressed store).</summary>
    public static bool IsAzure(string location)
        => location.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase)
            || location.StartsWith("https://", StringComparison.OrdinalIgnoreCase)
            || location.StartsWith("http://", StringComparison.OrdinalIgnoreCase);

    public static AzureBlobLocation Parse(string location)
    {
        if (location.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            var (container, prefix) = ContainerAndPrefix(location[Scheme.Length..], location, "az://container/prefix");
            return new AzureBlobLocation(null, null, container, prefix);
        }

        if (!IsAzure(location))
        {
            throw new InvalidRepositoryException($"\"{location}\" is not an Azure Blob location (az://container/prefix or https://account.blob.core.windows.net/container/prefix).", location);
        }

        var schemeEnd = location.IndexOf("://", StringComparison.Ordinal) + 3;
        var pathStart = location.IndexOf('/', schemeEnd);
        var authority = pathStart < 0 ? location[schemeEnd..] : location[schemeEnd..pathStart];
        var path = pathStart < 0 ? string.Empty : location[(pathStart + 1)..];
        // Shown without whatever follows a '?' or '#' (it may be a SAS token), nor a user:password@.
        var shown = location[..(location.IndexOfAny(['?', '#']) is var cut and >= 0 ? cut : location.Length)];
        if (authority.LastIndexOf('@') is var at and >= 0)
        {
            shown = location[..schemeEnd] + shown[(schemeEnd + at + 1)..];
        }

        if (location.Contains('?', StringComparison.Ordinal) || location.Contains('#', StringComparison.Ordinal))
        {
            throw new InvalidRepositoryException($"The repository URL {shown} carries a query string. Put a SAS token in AZURE_STORAGE_SAS_TOKEN, never in the location (it would show up in listings and logs).", shown);
        }

        if (authority.Contains('@', StringComparison.Ordinal) || !Uri.TryCreate($"{location[..schemeEnd]}{authority}/", UriKind.Absolute, out var hostUri) || hostUri.Host.Length == 0)
        {
            throw new InvalidRepositoryException($"\"{shown}\" is not a usable Azure Blob URL: expected https://account.blob.core.windows.net/container/prefix.", shown);
        }

        var origin = hostUri.GetLeftPart(UriPartial.Authority).ToLowerInvariant();
        var labels = hostUri.Host.Split('.');
        if (labels.Length > 2 && labels[1].Equals("blob", StringComparison.OrdinalIgnoreCase))
        {
            // account.blob.core.windows.net (or another cloud's suffix): the account is the host's first label.
            var account = CheckAccount(labels[0].ToLowerInvariant(), shown);
            var (container, prefix) = ContainerAndPrefix(path, shown, $"{origin}/container/prefix");
            return new AzureBlobLocation(new Uri(origin), account, container, prefix);
        }

        // Path-style (emulators): the first segment is the account.
        var slash = path.IndexOf('/', StringComparison.Ordinal);
        var accountName = CheckAccount(slash < 0 ? path : path[..slash], shown);
        var (pathContainer, pathPrefix) = ContainerAndPrefix(slash < 0 ? string.Empty : path[(slash + 1)..], shown, $"{origin}/account/container/prefix");
        return new AzureBlobLocation(new Uri($"{origin}/{accountName}"), accountName, pathContainer, pathPrefix);
    }

    /// <summary>The repository as users name it: az://container/prefix, or the URL (normalised, no trailing '/').</summary>
    public override string ToString()
    {
        var root = ServiceUri is null ? Scheme + Container : $"{ServiceUri.ToString().TrimEnd('/')}/{Container}";
        return Prefix.Length == 0 ? root : $"{root}/{Prefix}";
    }

    /// <summary>The blob name of a repository-relative key.</summary>
    public string BlobName(string key) => Prefix.Length == 0 ? key : Prefix + "/" + key;

    /// <summary>The same repository reached through another account endpoint (for az:// locations, once the account is known).</summary>
    internal AzureBlobLocation WithService(Uri serviceUri, string accountName) => new(serviceUri, accountName, Container, Prefix);

    private static (string Container, string Prefix) ContainerAndPrefix(string rest, string location, string expected)
    {
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var container = slash < 0 ? rest : rest[..slash];
        var prefix = slash < 0 ? string.Empty : rest[(slash + 1)..].Trim('/');
        if (container.Length == 0)
        {
            throw new InvalidRepositoryException($"\"{location}\" names no container; use {expected}.", location);
        }

        if (!ContainerName().IsMatch(container) || container.Contains("--", StringComparison.Ordinal))
        {
            throw new InvalidRepositoryException(
                $"\"{container}\" in {location} is not a valid Azure container name: 3 to 63 lower-case letters, digits and single hyphens, starting with a letter or digit.", location);
        }

        if (prefix.Split('/').Any(segment => segment is "." or ".."))
        {
            throw new InvalidRepositoryException($"\"{location}\" has '.' or '..' in its prefix, which clients resolve differently.", location);
        }

        return (container, prefix);
    }

    private static string CheckAccount(string account, string location)
        => AccountNamePattern().IsMatch(account)
            ? account
            : throw new InvalidRepositoryException($"\"{account}\" in {location} is not a valid storage account name (3 to 24 lower-case letters and digits).", location);

    [GeneratedRegex("^[a-z0-9](?:[a-z0-9-]{1,61})[a-z0-9]$")]
    private static partial Regex ContainerName();

    [GeneratedRegex("^[a-z0-9]{3,24}$")]
    internal static partial Regex AccountNamePattern();
}
