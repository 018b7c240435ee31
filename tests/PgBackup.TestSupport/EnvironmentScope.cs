namespace PgBackup.TestSupport;

/// <summary>
/// Sets process environment variables until disposed, then puts back exactly what was there (a value, or none).
/// The process environment is shared by every test running at the same time: tests using this belong in a
/// collection with DisableParallelization.
/// </summary>
public sealed class EnvironmentScope : IDisposable
{
    private readonly Dictionary<string, string?> _saved = [];

    public EnvironmentScope Set(string name, string? value)
    {
        _saved.TryAdd(name, Environment.GetEnvironmentVariable(name));
        Environment.SetEnvironmentVariable(name, value);
        return this;
    }

    public void Dispose()
    {
        foreach (var (name, value) in _saved)
        {
            Environment.SetEnvironmentVariable(name, value);
        }
    }
}
