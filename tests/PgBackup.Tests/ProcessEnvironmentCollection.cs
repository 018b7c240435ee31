namespace PgBackup.Tests;

/// <summary>
/// Tests that change process environment variables (through <see cref="EnvironmentScope"/>, which restores them):
/// xunit runs this collection alone, after the parallel ones, so no test reads a variable another one set.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironmentCollection
{
    public const string Name = "process environment";
}
