namespace PgBackup.Tests.Integration;

/// <summary>The object-store parity contract against S3 (s3rver).</summary>
[Collection(PostgresCollection.Name)]
public sealed class S3ParityTests(PostgresFixture postgres, S3Fixture s3) : ObjectStoreParityContract(postgres, s3), IClassFixture<S3Fixture>;
