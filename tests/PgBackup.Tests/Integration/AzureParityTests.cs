namespace PgBackup.Tests.Integration;

/// <summary>The object-store parity contract against Azure Blob Storage (Azurite).</summary>
[Collection(PostgresCollection.Name)]
public sealed class AzureParityTests(PostgresFixture postgres, AzureFixture azure) : ObjectStoreParityContract(postgres, azure), IClassFixture<AzureFixture>;
