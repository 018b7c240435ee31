using PgBackup.Errors;
using PgBackup.Storage;
using PgBackup.Storage.S3;

namespace PgBackup.Tests.Unit;

public sealed class S3OptionsTests
{
    private const long MiB = 1024 * 1024;

    [Theory]
    [InlineData(null, 64 * MiB)]
    [InlineData(0L, 64 * MiB)]
    [InlineData(10L * MiB, 8 * MiB)]
    [InlineData(100L * 1024 * MiB, 21 * MiB)]
    [InlineData(2L * 1024 * 1024 * MiB, 420 * MiB)]
    [InlineData(100L * 1024 * 1024 * MiB, 1024 * MiB)]
    public void Part_size_leaves_room_for_twice_the_estimate_within_10000_parts(long? expected, long partSize)
    {
        var chosen = S3PartSizing.Choose(expected, overrideBytes: null);
        Assert.Equal(partSize, chosen);
        Assert.True(chosen >= S3PartSizing.MinimumPartSize);
        if (expected is > 0 && chosen < S3PartSizing.MaximumPartSize)
        {
            Assert.True(chosen * S3PartSizing.MaxParts >= 2 * expected.Value);
        }
    }

    [Fact]
    public void An_explicit_part_size_wins_but_never_below_5_MiB()
    {
        Assert.Equal(5 * MiB, S3PartSizing.Choose(500L * 1024 * MiB, 5 * MiB));
        var error = Assert.Throws<InvalidRepositoryException>(() => S3PartSizing.Choose(null, 4 * MiB));
        Assert.Equal("InvalidRepository", error.ErrorId);
        Assert.Throws<InvalidRepositoryException>(() => S3PartSizing.Choose(null, 2048 * MiB));
    }

    [Theory]
    [InlineData("s3://bucket", "bucket", "")]
    [InlineData("s3://bucket/", "bucket", "")]
    [InlineData("S3://bucket/team/db/", "bucket", "team/db")]
    [InlineData("s3://my.bucket/a b/ü", "my.bucket", "a b/ü")]
    public void S3_locations_parse_into_bucket_and_prefix(string location, string bucket, string prefix)
    {
        var parsed = S3Location.Parse(location);
        Assert.Equal(new S3Location(bucket, prefix), parsed);
        Assert.Equal(prefix.Length == 0 ? "x/y" : prefix + "/x/y", parsed.ObjectKey("x/y"));
    }

    [Theory]
    [InlineData("s3://")]
    [InlineData("s3:///prefix")]
    [InlineData("s3://bucket/../up")]
    public void Bad_s3_locations_are_InvalidRepository(string location)
    {
        Assert.Equal("InvalidRepository", Assert.Throws<InvalidRepositoryException>(() => S3Location.Parse(location)).ErrorId);
    }

    [Fact]
    public void The_factory_opens_s3_locations_with_their_options()
    {
        using var repository = (S3Repository)RepositoryFactory.Open("s3://bucket/pre", new S3RepositoryOptions { Endpoint = "http://127.0.0.1:9", Region = "eu-west-3" });
        Assert.Equal("s3://bucket/pre", repository.Location);
        Assert.Equal("s3://bucket/pre/2024/01/02/x.dump", repository.GetObjectLocation("2024/01/02/x.dump"));
        Assert.Equal("http://127.0.0.1:9", repository.Endpoint);
    }

    [Fact]
    public void A_kms_key_without_aws_kms_encryption_is_refused()
    {
        Assert.Throws<InvalidRepositoryException>(() => RepositoryFactory.Open("s3://bucket", new S3RepositoryOptions { Endpoint = "http://127.0.0.1:9", KmsKeyId = "key" }));
    }

    [Fact]
    public void Region_is_the_parameter_then_the_sdk_chain_then_us_east_1_for_a_custom_endpoint()
    {
        Assert.Equal("eu-central-1", S3ClientFactory.ResolveRegion(" eu-central-1 ", null, "s3://b", regionFromChain: "ap-south-1"));
        Assert.Equal("ap-south-1", S3ClientFactory.ResolveRegion(null, "http://127.0.0.1:9", "s3://b", regionFromChain: "ap-south-1"));
        Assert.Equal("us-east-1", S3ClientFactory.ResolveRegion(null, "http://127.0.0.1:9", "s3://b", regionFromChain: null));
        var error = Assert.Throws<InvalidRepositoryException>(() => S3ClientFactory.ResolveRegion(null, null, "s3://b", regionFromChain: null));
        Assert.Contains("-S3Region", error.Message, StringComparison.Ordinal);
    }
}

/// <summary>Reads and sets AWS_ENDPOINT_URL*: alone, never beside tests that open S3 repositories.</summary>
[Collection(ProcessEnvironmentCollection.Name)]
public sealed class S3EndpointVariableTests
{
    [Fact]
    public void Endpoint_resolution_prefers_the_parameter_then_the_s3_variable_then_the_global_one()
    {
        using var environment = new EnvironmentScope()
            .Set(S3ClientFactory.ServiceEndpointVariable, "http://s3-variable")
            .Set(S3ClientFactory.GlobalEndpointVariable, "http://global-variable");
        Assert.Equal("http://explicit", S3ClientFactory.ResolveEndpoint("http://explicit"));
        Assert.Equal("http://s3-variable", S3ClientFactory.ResolveEndpoint(null));
        environment.Set(S3ClientFactory.ServiceEndpointVariable, null);
        Assert.Equal("http://global-variable", S3ClientFactory.ResolveEndpoint(null));
        environment.Set(S3ClientFactory.GlobalEndpointVariable, null);
        Assert.Null(S3ClientFactory.ResolveEndpoint(" "));
    }
}
