using System.Management.Automation;
using Amazon.S3.Model;
using PgBackup.Tests.Integration;
using PgBackup.TestSupport;

namespace PgBackup.Tests.Module;

/// <summary>
/// New-PgBackup -Verify when the stored bytes go bad between the commit and the check: the object is
/// replaced (a flipped byte, same size) while the proxy holds the verification's first read, so the
/// check reads what S3 really holds then. The backup is still reported, and so is the failure.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class VerifyAfterBackupTests(PostgresFixture pg, S3Fixture s3) : IClassFixture<S3Fixture>
{
    [Fact]
    public async Task A_backup_that_fails_its_verification_is_written_and_reported_as_BackupVerificationFailed()
    {
        var database = PostgresFixture.UniqueName("verify_s3");
        await pg.Cluster.CreateNorthwindAsync(database);
        var prefix = StoredObjects.UniquePrefix("verify");
        await using var proxy = S3FaultProxy.Start(s3.Server.Endpoint);
        var hold = proxy.Hold(S3Operation.GetObject);
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", S3rverServer.AccessKey);
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", S3rverServer.SecretKey);
        using var shell = HostedModuleTests.CreateShell();
        shell.AddCommand("New-PgBackup")
            .AddParameter("Database", database)
            .AddParameter("ConnectionString", pg.Cluster.ConnectionUri())
            .AddParameter("Repository", $"s3://{s3.Bucket}/{prefix}")
            .AddParameter("S3Endpoint", proxy.Endpoint)
            .AddParameter("Verify");

        var invocation = shell.BeginInvoke();
        await hold.WaitForHeldAsync(1, TimeSpan.FromMinutes(1));
        var artifactKey = (await s3.ListKeysAsync(prefix)).Single(k => !k.EndsWith(".manifest.json", StringComparison.Ordinal));
        await CorruptOneByteAsync(artifactKey);
        hold.Release();
        var output = await Task.Factory.FromAsync(invocation, shell.EndInvoke);

        var backup = Assert.IsType<BackupInfo>(Assert.Single(output).BaseObject);
        Assert.Equal(BackupStatus.Succeeded, backup.Status);
        var error = Assert.Single(shell.Streams.Error);
        Assert.Equal("BackupVerificationFailed,PgBackup.Commands.NewPgBackupCommand", error.FullyQualifiedErrorId);
        Assert.Contains(backup.Id, error.Exception.Message, StringComparison.Ordinal);
        Assert.Contains("SHA-256", error.Exception.Message, StringComparison.Ordinal);
    }

    private async Task CorruptOneByteAsync(string objectKey)
    {
        using var client = s3.DirectClient();
        byte[] bytes;
        using (var response = await client.GetObjectAsync(s3.Bucket, objectKey))
        using (var copy = new MemoryStream())
        {
            await response.ResponseStream.CopyToAsync(copy);
            bytes = copy.ToArray();
        }

        var original = s3.StoredFileSha256(objectKey);
        bytes[bytes.Length / 2] ^= 0xFF;
        await client.PutObjectAsync(new PutObjectRequest { BucketName = s3.Bucket, Key = objectKey, InputStream = new MemoryStream(bytes), UseChunkEncoding = false });
        Assert.NotEqual(original, s3.StoredFileSha256(objectKey));
    }
}
