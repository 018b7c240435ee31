using PgBackup.Storage;
using PgBackup.Storage.S3;

namespace PgBackup.Tests.Integration;

/// <summary>
/// The retention contract on S3 (s3rver): the same 60-day theory and safety facts as on a local
/// folder, so both stores are held to the same survivors.
/// </summary>
public sealed class S3RetentionServiceTests(S3Fixture s3) : RetentionServiceContract, IClassFixture<S3Fixture>, IDisposable
{
    private readonly List<S3Repository> _repositories = [];

    private protected override Task<IBackupRepository> CreateRepositoryAsync()
        => Task.FromResult<IBackupRepository>(Track(s3.Repository(StoredObjects.UniquePrefix("retention"))));

    private protected override IBackupRepository MissingRepository()
        => Track(s3.Repository("retention", bucket: "pgbackup-missing-" + Guid.NewGuid().ToString("N")));

    public void Dispose()
    {
        foreach (var repository in _repositories)
        {
            repository.Dispose();
        }
    }

    private S3Repository Track(S3Repository repository)
    {
        _repositories.Add(repository);
        return repository;
    }
}
