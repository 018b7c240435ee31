using PgBackup.Errors;
using PgBackup.Retention;
using static PgBackup.Tests.Unit.RetentionTestData;

namespace PgBackup.Tests.Unit;

public class RetentionPolicyTests
{
    public static TheoryData<string, string> NegativePolicies => new()
    {
        { "RetentionDays -1", "RetentionDays" },
        { "KeepLast -1", "KeepLast" },
        { "KeepDaily -7", "KeepDaily" },
        { "KeepWeekly -1 KeepLast 3", "KeepWeekly" },
        { "KeepMonthly -2147483648 RetentionDays 30", "KeepMonthly" },
    };

    [Fact]
    public void A_policy_without_any_rule_is_refused_with_a_stable_error_id()
    {
        var error = Assert.Throws<InvalidRetentionPolicyException>(() => new RetentionPolicy().Validate());

        Assert.Equal("InvalidRetentionPolicy", error.ErrorId);
        Assert.Equal(FailureCategory.InvalidArgument, error.Category);
        Assert.Contains("no rule", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(NegativePolicies))]
    public void A_negative_number_is_refused_naming_the_rule(string policy, string rule)
    {
        var error = Assert.Throws<InvalidRetentionPolicyException>(new Integration.RetentionPolicyText(policy).ToPolicy().Validate);

        Assert.Equal("InvalidRetentionPolicy", error.ErrorId);
        Assert.StartsWith(rule + " must be zero or more", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_evaluator_refuses_an_invalid_policy_even_on_empty_input()
    {
        Assert.Throws<InvalidRetentionPolicyException>(() => RetentionEvaluator.Evaluate([], new RetentionPolicy(), Utc("2026-03-01T00:00:00Z"), TimeZoneInfo.Utc));
        Assert.Throws<InvalidRetentionPolicyException>(() => RetentionEvaluator.Evaluate([], new RetentionPolicy { KeepLast = -2 }, Utc("2026-03-01T00:00:00Z"), TimeZoneInfo.Utc));
    }

    [Fact]
    public void Zero_is_a_valid_rule()
    {
        new RetentionPolicy { KeepLast = 0 }.Validate();
        new RetentionPolicy { RetentionDays = 0, KeepDaily = 0, KeepWeekly = 0, KeepMonthly = 0 }.Validate();
    }

    [Fact]
    public void Describes_only_the_rules_that_are_set()
    {
        Assert.Equal("RetentionDays 30 KeepWeekly 4", new RetentionPolicy { RetentionDays = 30, KeepWeekly = 4 }.ToString());
    }
}
