using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;

namespace PgBackup.Module.Tests;

/// <summary>
/// New-PgBackup -Verify when the stored bytes go bad between the commit and the check: the object is
/// replaced (a flipped byte, same size) while the proxy holds the verification's first read, so the
/// check reads what S3 really holds then. The backup is still reported, and so is the failure.
/// The module finds the s3rver keys where users put theirs: the AWS SDK chain's environment variables.
/// </summary>
[Collection(ProcessEnvironmentCollection.Name)]
public sealed class VerifyAfterBackupTests(ClusterFixture pg) : IAsyncLifetime
{
    private S3rverServer? _s3;

    private S3rverServer S3 => _s3 ?? throw new InvalidOperationException("s3rver is not started.");

    public async Task InitializeAsync() => _s3 = await S3rverServer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_s3 is not null)
        {
            await _s3.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_backup_that_fails_its_verification_is_written_and_reported_as_BackupVerificationFailed()
    {
        var database = ClusterFixture.UniqueName("verify_s3");
        await pg.Cluster.CreateNorthwindAsync(database);
        var prefix = "verify-" + Guid.NewGuid().ToString("N")[..8];
        await using var proxy = S3FaultProxy.Start(S3.Endpoint);
        var hold = proxy.Hold(S3Operation.GetObject);
        using var environment = new EnvironmentScope()
            .Set("AWS_ACCESS_KEY_ID", S3rverServer.AccessKey)
            .Set("AWS_SECRET_ACCESS_KEY", S3rverServer.SecretKey);
        using var shell = ModuleHost.CreateShell();
        shell.AddCommand("New-PgBackup")
            .AddParameter("Database", database)
            .AddParameter("ConnectionString", pg.Cluster.ConnectionUri())
            .AddParameter("Repository", $"s3://{S3.Bucket}/{prefix}")
            .AddParameter("S3Endpoint", proxy.Endpoint)
            .AddParameter("Verify");

        var invocation = shell.BeginInvoke();
        await hold.WaitForHeldAsync(1, TimeSpan.FromMinutes(1));
        var artifactKey = (await ListKeysAsync(prefix)).Single(k => !k.EndsWith(".manifest.json", StringComparison.Ordinal));
        await CorruptOneByteAsync(artifactKey);
        hold.Release();
        var output = await Task.Factory.FromAsync(invocation, shell.EndInvoke);

        var backup = Assert.Single(output);
        Assert.Equal("PgBackup.BackupInfo", backup.BaseObject.GetType().FullName);
        Assert.Equal("Succeeded", ModuleHost.Property<string>(backup, "Status"));
        var id = ModuleHost.Property<string>(backup, "Id");
        var error = Assert.Single(shell.Streams.Error);
        Assert.Equal("BackupVerificationFailed,PgBackup.Commands.NewPgBackupCommand", error.FullyQualifiedErrorId);
        Assert.Contains(id, error.Exception.Message, StringComparison.Ordinal);
        Assert.Contains("SHA-256", error.Exception.Message, StringComparison.Ordinal);
    }

    /// <summary>A client straight to s3rver, independent of the module: plain bodies, as s3rver needs.</summary>
    private AmazonS3Client DirectClient() => new(
        new BasicAWSCredentials(S3rverServer.AccessKey, S3rverServer.SecretKey),
        new AmazonS3Config
        {
            ServiceURL = S3.Endpoint,
            ForcePathStyle = true,
            AuthenticationRegion = "us-east-1",
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        });

    private async Task<List<string>> ListKeysAsync(string prefix)
    {
        using var client = DirectClient();
        var page = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = S3.Bucket, Prefix = prefix + "/" });
        return (page.S3Objects ?? []).Select(o => o.Key).ToList();
    }

    private async Task CorruptOneByteAsync(string objectKey)
    {
        var original = S3.StoredObjectSha256(objectKey);
        var bytes = await File.ReadAllBytesAsync(S3.StoredObjectPath(objectKey));
        bytes[bytes.Length / 2] ^= 0xFF;
        using var client = DirectClient();
        await client.PutObjectAsync(new PutObjectRequest { BucketName = S3.Bucket, Key = objectKey, InputStream = new MemoryStream(bytes), UseChunkEncoding = false });
        Assert.NotEqual(original, S3.StoredObjectSha256(objectKey));
    }
}
