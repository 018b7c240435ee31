namespace PgBackup;

/// <summary>How deep Test-PgBackup looks; each level includes the ones before it.</summary>
public enum TestLevel
{
    /// <summary>Size and SHA-256 against the manifest (and compression frames decode to the end).</summary>
    Checksum,

    /// <summary>Checksum, plus the format header and the archive's table of contents.</summary>
    Structure,

    /// <summary>Structure, plus a real restore into a temporary database that is dropped afterwards.</summary>
    Restore,
}

/// <summary>One check of a backup test. <c>PgBackup.TestCheck</c> is part of the public contract.</summary>
public sealed class TestCheck
{
    public TestCheck(string name, bool passed, string detail)
    {
        Name = name;
        Passed = passed;
        Detail = detail;
    }

    public string Name { get; }

    public bool Passed { get; }

    /// <summary>What was compared, and on failure the mismatch (expected vs actual).</summary>
    public string Detail { get; }

    public override string ToString() => $"{Name}: {(Passed ? "passed" : "FAILED")} — {Detail}";
}

/// <summary>
/// The outcome of Test-PgBackup for one backup. <c>PgBackup.TestResult</c> is part of the public
/// contract: format views select on it.
/// </summary>
public sealed class TestResult
{
    public required BackupInfo Backup { get; init; }

    public required TestLevel Level { get; init; }

    /// <summary>True when every check passed.</summary>
    public bool Passed => Checks.Count > 0 && Checks.All(c => c.Passed);

    public required IReadOnlyList<TestCheck> Checks { get; init; }

    public required TimeSpan Duration { get; init; }

    /// <summary>The database the Restore level restored into (dropped afterwards unless kept); null below that level.</summary>
    public string? TemporaryDatabase { get; init; }

    /// <summary>Whether <see cref="TemporaryDatabase"/> still exists on the server (-KeepDatabase).</summary>
    public bool TemporaryDatabaseKept { get; init; }

    public IEnumerable<TestCheck> FailedChecks => Checks.Where(c => !c.Passed);

    /// <summary>The failed checks in one line ("Name: detail; …"), for error messages.</summary>
    public string DescribeFailures() => string.Join("; ", FailedChecks.Select(c => $"{c.Name}: {c.Detail}"));

    public override string ToString() => $"{Backup.Id} {Level}: {(Passed ? "passed" : "FAILED")}";
}
