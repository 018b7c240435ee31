using PgBackup.Storage;

namespace PgBackup.Tests.Integration;

/// <summary>The retention contract on Azure Blob Storage (Azurite): the same survivors as on a local folder and S3.</summary>
public sealed class AzureRetentionServiceTests(AzureFixture azure) : RetentionServiceContract, IClassFixture<AzureFixture>
{
    private protected override Task<IBackupRepository> CreateRepositoryAsync()
        => Task.FromResult<IBackupRepository>(azure.Repository(StoredObjects.UniquePrefix("retention")));

    private protected override IBackupRepository MissingRepository()
        => azure.Repository("retention", container: "pgbackup-missing-" + Guid.NewGuid().ToString("N")[..12]);
}
