using System.Globalization;
using PgBackup.Errors;

namespace PgBackup.Retention;

/// <summary>
/// Which backups to keep. A backup survives when any rule keeps it; each rule left null is off.
/// Count rules (<see cref="KeepLast"/>, <see cref="KeepDaily"/>, <see cref="KeepWeekly"/>,
/// <see cref="KeepMonthly"/>) rank Succeeded backups and Failed attempts separately, so a failed
/// attempt never takes a slot from a good backup (see <see cref="RetentionEvaluator"/>).
/// </summary>
internal sealed record RetentionPolicy
{
    /// <summary>About 273 years: far beyond any real retention, well inside what dates and time spans can hold.</summary>
    public const int MaximumRetentionDays = 100_000;

    /// <summary>Keep everything started within this many days (24-hour periods) before now.</summary>
    public int? RetentionDays { get; init; }

    /// <summary>Keep the newest N.</summary>
    public int? KeepLast { get; init; }

    /// <summary>Keep the newest backup of each of the last N calendar days that have one.</summary>
    public int? KeepDaily { get; init; }

    /// <summary>Keep the newest backup of each of the last N ISO-8601 weeks that have one.</summary>
    public int? KeepWeekly { get; init; }

    /// <summary>Keep the newest backup of each of the last N calendar months that have one.</summary>
    public int? KeepMonthly { get; init; }

    /// <summary>
    /// Refuses a policy with no rule (it would mean "expire everything", surely a mistake) or a
    /// negative number. Zero is allowed: "-KeepLast 0" keeps only what the safety rule keeps.
    /// </summary>
    public void Validate()
    {
        var rules = Rules().ToList();
        if (rules.All(rule => rule.Value is null))
        {
            throw new InvalidRetentionPolicyException(
                "The retention policy has no rule: give at least one of -RetentionDays, -KeepLast, -KeepDaily, -KeepWeekly or -KeepMonthly.", this);
        }

        foreach (var (name, value) in rules)
        {
            if (value < 0)
            {
                throw new InvalidRetentionPolicyException($"{name} must be zero or more, not {value.Value.ToString(CultureInfo.InvariantCulture)}.", this);
            }
        }

        // Beyond this, "now minus N days" is not a date (an OverflowException, not an answer).
        if (RetentionDays > MaximumRetentionDays)
        {
            throw new InvalidRetentionPolicyException(
                string.Create(CultureInfo.InvariantCulture, $"{nameof(RetentionDays)} must be at most {MaximumRetentionDays}, not {RetentionDays}."), this);
        }
    }

    public override string ToString()
        => string.Join(' ', Rules().Where(rule => rule.Value is not null).Select(rule => string.Create(CultureInfo.InvariantCulture, $"{rule.Name} {rule.Value}")));

    private IEnumerable<(string Name, int? Value)> Rules()
    {
        yield return (nameof(RetentionDays), RetentionDays);
        yield return (nameof(KeepLast), KeepLast);
        yield return (nameof(KeepDaily), KeepDaily);
        yield return (nameof(KeepWeekly), KeepWeekly);
        yield return (nameof(KeepMonthly), KeepMonthly);
    }
}
