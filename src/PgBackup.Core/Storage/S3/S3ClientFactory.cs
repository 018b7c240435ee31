using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using PgBackup.Errors;

namespace PgBackup.Storage.S3;

/// <summary>
/// Builds the S3 client, resolving the endpoint and region in one documented order:
/// endpoint = option, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS; region = option, the SDK
/// chain (AWS_REGION, profile, instance metadata), else us-east-1 when the endpoint is custom.
/// </summary>
internal static class S3ClientFactory
{
    public const string ServiceEndpointVariable = "AWS_ENDPOINT_URL_S3";
    public const string GlobalEndpointVariable = "AWS_ENDPOINT_URL";
    public const string CustomEndpointDefaultRegion = "us-east-1";

    public static string? ResolveEndpoint(string? explicitEndpoint)
        => new[] { explicitEndpoint, Environment.GetEnvironmentVariable(ServiceEndpointVariable), Environment.GetEnvironmentVariable(GlobalEndpointVariable) }
            .FirstOrDefault(value => !string.IsNullOrWhiteSpace(value))?.Trim();

    public static string ResolveRegion(string? explicitRegion, string? endpoint, string repository)
        => ResolveRegion(explicitRegion, endpoint, repository, string.IsNullOrWhiteSpace(explicitRegion) ? TryRegionFromSdkChain() : null);

    /// <param name="regionFromChain">What the SDK chain (AWS_REGION, profile, instance metadata) found, if anything.</param>
    internal static string ResolveRegion(string? explicitRegion, string? endpoint, string repository, string? regionFromChain)
    {
        if (!string.IsNullOrWhiteSpace(explicitRegion))
        {
            return explicitRegion.Trim();
        }

        if (regionFromChain is not null)
        {
            return regionFromChain;
        }

        return endpoint is not null
            ? CustomEndpointDefaultRegion
            : throw new InvalidRepositoryException($"No AWS region for {repository}: pass -S3Region or set AWS_REGION.", repository);
    }

    public static IAmazonS3 Create(S3RepositoryOptions options, string repository)
    {
        var endpoint = ResolveEndpoint(options.Endpoint);
        var region = ResolveRegion(options.Region, endpoint, repository);
        var config = new AmazonS3Config
        {
            RetryMode = RequestRetryMode.Standard,
            MaxErrorRetry = 4,
            // We resolved the endpoint above; the SDK must not pick another one from profiles or variables.
            IgnoreConfiguredEndpointUrls = true,
        };

        if (endpoint is null)
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(region);
        }
        else
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var endpointUri) || (endpointUri.Scheme != Uri.UriSchemeHttp && endpointUri.Scheme != Uri.UriSchemeHttps))
            {
                throw new InvalidRepositoryException($"The S3 endpoint \"{endpoint}\" is not an http(s) URL.", repository);
            }

            config.ServiceURL = endpoint;
            config.AuthenticationRegion = region;
            // S3-compatible servers rarely resolve bucket subdomains, and many store the aws-chunked
            // body (signatures and checksum trailers included) when the SDK's default checksums are on.
            config.ForcePathStyle = true;
            config.RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED;
            config.ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED;
        }

        return options.Credentials is null ? new AmazonS3Client(config) : new AmazonS3Client(options.Credentials, config);
    }

    private static string? TryRegionFromSdkChain()
    {
        try
        {
            return FallbackRegionFactory.GetRegionEndpoint()?.SystemName;
        }
        catch (AmazonClientException)
        {
            return null;
        }
    }
}
