using PgBackup.Retention;
using static PgBackup.Tests.Unit.RetentionTestData;

namespace PgBackup.Tests.Unit;

public class RetentionEvaluatorTests
{
    private static readonly TimeZoneInfo Berlin = TimeZoneInfo.FindSystemTimeZoneById("Europe/Berlin");
    private static readonly TimeZoneInfo NewYork = TimeZoneInfo.FindSystemTimeZoneById("America/New_York");

    [Fact]
    public void Empty_input_gives_no_decisions()
    {
        var evaluation = RetentionEvaluator.Evaluate([], new RetentionPolicy { KeepLast = 3 }, Utc("2026-03-01T00:00:00Z"), TimeZoneInfo.Utc);

        Assert.Empty(evaluation.Decisions);
    }

    [Fact]
    public void KeepLast_keeps_the_newest_n_and_says_why()
    {
        var backups = Daily("2026-02-01", 10);

        var evaluation = Evaluate(backups, new RetentionPolicy { KeepLast = 3 });

        Assert.Equal(["2026-02-10", "2026-02-09", "2026-02-08"], KeptDays(evaluation));
        var newest = evaluation.Decisions[0];
        Assert.Equal([RetentionRule.NewestSucceeded, RetentionRule.KeepLast], newest.Reasons.Select(r => r.Rule));
        Assert.Equal("3 of the 3 newest succeeded", evaluation.Decisions[2].Reasons.Single().Detail);
        Assert.Equal(10, evaluation.Decisions.Count);
        Assert.Equal(7, evaluation.Expired.Count());
    }

    [Fact]
    public void Decisions_come_newest_first_whatever_the_input_order()
    {
        var backups = Daily("2026-02-01", 5);
        backups.Reverse();

        var evaluation = Evaluate(backups, new RetentionPolicy { KeepLast = 1 });

        Assert.Equal(["2026-02-05", "2026-02-04", "2026-02-03", "2026-02-02", "2026-02-01"], evaluation.Decisions.Select(d => Day(d.Backup)));
    }

    [Fact]
    public void KeepLast_zero_leaves_only_the_newest_succeeded_backup()
    {
        var evaluation = Evaluate(Daily("2026-02-01", 4), new RetentionPolicy { KeepLast = 0 });

        var kept = Assert.Single(evaluation.Kept);
        Assert.Equal("2026-02-04", Day(kept.Backup));
        Assert.Equal(RetentionRule.NewestSucceeded, Assert.Single(kept.Reasons).Rule);
    }

    [Fact]
    public void RetentionDays_keeps_exactly_what_started_at_or_after_the_cutoff()
    {
        var now = Utc("2026-02-20T12:00:00Z");
        var backups = Series(
            "2026-02-13T12:00:00Z", // exactly 7 days old: kept
            "2026-02-13T11:59:59Z", // one second older: expired
            "2026-02-10T12:00:00Z",
            "2026-02-19T00:00:00Z");

        var evaluation = RetentionEvaluator.Evaluate(backups, new RetentionPolicy { RetentionDays = 7 }, now, TimeZoneInfo.Utc);

        Assert.Equal(["0004", "0001"], KeptHexes(evaluation));
        Assert.Equal("started within 7 days", evaluation.Decisions.Single(d => Hex(d.Backup) == "0001").Reasons.Single().Detail);
    }

    [Fact]
    public void When_everything_is_older_than_the_cutoff_the_newest_succeeded_backup_survives()
    {
        BackupInfo[] backups =
        [
            Make("2026-01-01T01:00:00Z", hex: "0001"),
            Make("2026-01-02T01:00:00Z", hex: "0002"),
            Make("2026-01-03T01:00:00Z", BackupStatus.Failed, hex: "0003"), // newer, but failed
            Make("2026-01-01T13:00:00Z", BackupStatus.Failed, hex: "0004"),
        ];

        var evaluation = RetentionEvaluator.Evaluate(backups, new RetentionPolicy { RetentionDays = 30 }, Utc("2026-06-01T00:00:00Z"), TimeZoneInfo.Utc);

        var kept = Assert.Single(evaluation.Kept);
        Assert.Equal("0002", Hex(kept.Backup));
        Assert.Equal(RetentionRule.NewestSucceeded, Assert.Single(kept.Reasons).Rule);
    }

    [Fact]
    public void A_database_with_only_failed_attempts_has_nothing_protected()
    {
        BackupInfo[] backups =
        [
            Make("2026-01-01T01:00:00Z", BackupStatus.Failed, hex: "0001"),
            Make("2026-01-02T01:00:00Z", BackupStatus.Failed, hex: "0002"),
        ];

        var evaluation = RetentionEvaluator.Evaluate(backups, new RetentionPolicy { RetentionDays = 1 }, Utc("2026-06-01T00:00:00Z"), TimeZoneInfo.Utc);

        Assert.Empty(evaluation.Kept);
        Assert.Equal(2, evaluation.Expired.Count());
    }

    [Fact]
    public void Failed_attempts_never_push_good_backups_out_of_KeepLast()
    {
        BackupInfo[] backups =
        [
            Make("2026-02-01T01:00:00Z", hex: "0a01"),
            Make("2026-02-02T01:00:00Z", hex: "0a02"),
            Make("2026-02-03T01:00:00Z", hex: "0a03"),
            Make("2026-02-04T01:00:00Z", BackupStatus.Failed, hex: "0f04"),
            Make("2026-02-05T01:00:00Z", BackupStatus.Failed, hex: "0f05"),
            Make("2026-02-06T01:00:00Z", BackupStatus.Failed, hex: "0f06"),
        ];

        var evaluation = Evaluate(backups, new RetentionPolicy { KeepLast = 2 });

        // Two series under the same rule: the 2 newest good backups and the 2 newest failed attempts.
        Assert.Equal(["0f06", "0f05", "0a03", "0a02"], KeptHexes(evaluation));
        Assert.Equal("1 of the 2 newest failed", evaluation.Decisions[0].Reasons.Single().Detail);
    }

    [Fact]
    public void A_day_with_only_failed_attempts_does_not_use_up_a_daily_slot_of_good_backups()
    {
        BackupInfo[] backups =
        [
            Make("2026-02-01T01:00:00Z", hex: "0a01"),
            Make("2026-02-02T01:00:00Z", hex: "0a02"),
            Make("2026-02-03T01:00:00Z", BackupStatus.Failed, hex: "0f03"),
            Make("2026-02-04T01:00:00Z", BackupStatus.Failed, hex: "0f04"),
        ];

        var evaluation = Evaluate(backups, new RetentionPolicy { KeepDaily = 2 });

        Assert.Equal(["0f04", "0f03", "0a02", "0a01"], KeptHexes(evaluation));
        Assert.True(evaluation.Decisions.Single(d => Hex(d.Backup) == "0a01").KeptBy(RetentionRule.KeepDaily));
    }

    [Fact]
    public void KeepDaily_keeps_the_newest_of_each_of_the_last_n_days_that_have_one()
    {
        var backups = Series(
            "2026-02-01T01:00:00Z",
            "2026-02-01T13:00:00Z",
            "2026-02-02T01:00:00Z",
            // 2026-02-03 to 2026-02-05: no backup; the days without one do not count.
            "2026-02-06T01:00:00Z",
            "2026-02-06T23:59:59Z",
            "2026-02-06T13:00:00Z");

        var evaluation = Evaluate(backups, new RetentionPolicy { KeepDaily = 3 });

        Assert.Equal(["0005", "0003", "0002"], KeptHexes(evaluation));
        Assert.Equal(["2026-02-06", "2026-02-02", "2026-02-01"], Buckets(evaluation, RetentionRule.KeepDaily));
    }

    [Fact]
    public void KeepWeekly_uses_iso_weeks_across_the_year_end()
    {
        var backups = Series(
            "2026-12-27T10:00:00Z", // Sunday of 2026-W52
            "2026-12-28T10:00:00Z", // Monday of 2026-W53
            "2026-12-31T10:00:00Z", // Thursday of 2026-W53
            "2027-01-02T10:00:00Z", // Saturday, still 2026-W53
            "2027-01-04T10:00:00Z"); // Monday of 2027-W01

        var evaluation = Evaluate(backups, new RetentionPolicy { KeepWeekly = 3 });

        Assert.Equal(["0005", "0004", "0001"], KeptHexes(evaluation));
        Assert.Equal(["2027-W01", "2026-W53", "2026-W52"], Buckets(evaluation, RetentionRule.KeepWeekly));
    }

    [Fact]
    public void KeepMonthly_keeps_the_last_backup_of_each_month_including_month_ends_and_leap_days()
    {
        var backups = Series(
            "2028-01-31T23:59:59Z",
            "2028-01-15T00:00:00Z",
            "2028-02-29T12:00:00Z", // leap day
            "2028-02-01T00:00:00Z",
            "2028-03-01T00:00:00Z",
            "2027-12-31T23:00:00Z");

        // "Now" after the backups: a backup started in the future would be kept whatever the rules (issue 9).
        var evaluation = Evaluate(backups, new RetentionPolicy { KeepMonthly = 3 }, now: "2028-06-01T00:00:00Z");

        Assert.Equal(["0005", "0003", "0001"], KeptHexes(evaluation));
        Assert.Equal(["2028-03", "2028-02", "2028-01"], Buckets(evaluation, RetentionRule.KeepMonthly));
    }

    [Fact]
    public void Month_buckets_follow_the_time_zone()
    {
        // 23:30 UTC on January 31 is already February 1 in Berlin (UTC+1), and still January 31 in New York.
        var backups = Series(
            "2026-01-31T23:30:00Z",
            "2026-01-20T12:00:00Z",
            "2026-02-10T12:00:00Z");
        var policy = new RetentionPolicy { KeepMonthly = 2 };

        Assert.Equal(["0003", "0002"], KeptHexes(Evaluate(backups, policy, Berlin)));
        Assert.Equal(["0003", "0001"], KeptHexes(Evaluate(backups, policy, TimeZoneInfo.Utc)));
        Assert.Equal(["0003", "0001"], KeptHexes(Evaluate(backups, policy, NewYork)));
    }

    [Fact]
    public void The_25_hour_day_when_dst_ends_is_one_day()
    {
        // Berlin leaves summer time on 2026-10-25: 00:30 CEST (22:30Z the day before) and 23:30 CET
        // (22:30Z) are both on October 25, 25 hours apart. In UTC they are two days.
        var backups = Series(
            "2026-10-23T21:30:00Z", // 23:30 CEST Oct 23
            "2026-10-24T22:30:00Z", // 00:30 CEST Oct 25
            "2026-10-25T22:30:00Z"); // 23:30 CET Oct 25
        var policy = new RetentionPolicy { KeepDaily = 2 };

        var berlin = Evaluate(backups, policy, Berlin);
        Assert.Equal(["0003", "0001"], KeptHexes(berlin));
        Assert.Equal(["2026-10-25", "2026-10-23"], Buckets(berlin, RetentionRule.KeepDaily));

        Assert.Equal(["0003", "0002"], KeptHexes(Evaluate(backups, policy, TimeZoneInfo.Utc)));
    }

    [Fact]
    public void The_23_hour_day_when_dst_starts_is_one_day()
    {
        // New York springs forward on 2026-03-08: 00:30 EST is 05:30Z, 23:30 EDT is 03:30Z the next UTC day.
        var backups = Series(
            "2026-03-08T05:30:00Z", // 00:30 EST Mar 8
            "2026-03-08T07:30:00Z", // 03:30 EDT Mar 8 (02:00-03:00 does not exist)
            "2026-03-09T03:30:00Z", // 23:30 EDT Mar 8
            "2026-03-09T04:30:00Z"); // 00:30 EDT Mar 9
        var policy = new RetentionPolicy { KeepDaily = 2 };

        var newYork = Evaluate(backups, policy, NewYork);
        Assert.Equal(["0004", "0003"], KeptHexes(newYork));
        Assert.Equal(["2026-03-09", "2026-03-08"], Buckets(newYork, RetentionRule.KeepDaily));
    }

    [Fact]
    public void Week_buckets_follow_the_time_zone_at_the_week_boundary()
    {
        // Sunday 2026-03-01 23:30 in New York is Monday 04:30Z: another ISO week in UTC.
        var backups = Series(
            "2026-03-02T04:30:00Z",
            "2026-03-01T12:00:00Z",
            "2026-02-20T12:00:00Z"); // Friday of W08 everywhere
        var policy = new RetentionPolicy { KeepWeekly = 2 };

        Assert.Equal(["0001", "0002"], KeptHexes(Evaluate(backups, policy, TimeZoneInfo.Utc)));
        Assert.Equal(["0001", "0003"], Evaluate(backups, policy, NewYork).Kept.Where(d => d.KeptBy(RetentionRule.KeepWeekly)).Select(d => Hex(d.Backup)));
    }

    [Fact]
    public void Ties_in_the_same_second_are_broken_by_id_whatever_the_input_order()
    {
        var first = Make("2026-02-01T01:00:00Z", hex: "00aa");
        var second = Make("2026-02-01T01:00:00Z", hex: "00ff");
        var older = Make("2026-01-31T01:00:00Z", hex: "0011");
        var policy = new RetentionPolicy { KeepLast = 1, KeepDaily = 2 };

        var forward = Evaluate([first, second, older], policy);
        var backward = Evaluate([older, second, first], policy);

        Assert.Equal(["00ff", "0011"], KeptHexes(forward));
        Assert.Equal(forward.Decisions.Select(d => d.ToString()), backward.Decisions.Select(d => d.ToString()));
    }

    [Fact]
    public void Each_database_is_evaluated_on_its_own()
    {
        BackupInfo[] backups =
        [
            .. Daily("2026-02-01", 5, database: "shop"),
            .. Daily("2026-01-01", 3, database: "crm"),
        ];

        var evaluation = Evaluate(backups, new RetentionPolicy { KeepLast = 2 });

        Assert.Equal(["crm 2026-01-03", "crm 2026-01-02", "shop 2026-02-05", "shop 2026-02-04"], evaluation.Kept.Select(d => $"{d.Backup.Database} {Day(d.Backup)}"));
    }

    [Fact]
    public void Database_names_are_case_sensitive_as_in_postgresql()
    {
        BackupInfo[] backups = [Make("2026-02-01T01:00:00Z", database: "Shop"), Make("2026-02-02T01:00:00Z", database: "shop")];

        var evaluation = Evaluate(backups, new RetentionPolicy { KeepLast = 0 });

        Assert.Equal(2, evaluation.Kept.Count());
        Assert.All(evaluation.Kept, d => Assert.True(d.KeptBy(RetentionRule.NewestSucceeded)));
    }

    [Fact]
    public void The_same_database_in_two_repositories_is_evaluated_separately()
    {
        BackupInfo[] backups =
        [
            Make("2026-02-01T01:00:00Z", hex: "0001", repository: "/a"),
            Make("2026-02-02T01:00:00Z", hex: "0002", repository: "/a"),
            Make("2026-02-01T01:00:00Z", hex: "0003", repository: "/b"),
        ];

        var evaluation = Evaluate(backups, new RetentionPolicy { KeepLast = 1 });

        Assert.Equal(["0002", "0003"], KeptHexes(evaluation));
    }

    [Fact]
    public void A_backup_survives_when_any_rule_keeps_it_and_lists_every_reason()
    {
        var backups = Daily("2026-01-01", 60);
        var now = Utc("2026-03-01T12:00:00Z");
        var policy = new RetentionPolicy { RetentionDays = 3, KeepLast = 2, KeepWeekly = 2, KeepMonthly = 2 };

        var evaluation = RetentionEvaluator.Evaluate(backups, policy, now, TimeZoneInfo.Utc);

        // Days kept: within 3 days (Feb 27 01:00 is after the Feb 26 12:00 cutoff), 2 newest,
        // Sundays Mar 1 and Feb 22 (ISO weeks 9 and 8), and month ends Mar 1, Feb 28.
        Assert.Equal(["2026-03-01", "2026-02-28", "2026-02-27", "2026-02-22"], KeptDays(evaluation));
        Assert.Equal(
            [RetentionRule.NewestSucceeded, RetentionRule.RetentionDays, RetentionRule.KeepLast, RetentionRule.KeepWeekly, RetentionRule.KeepMonthly],
            evaluation.Decisions[0].Reasons.Select(r => r.Rule));
        Assert.Equal([RetentionRule.RetentionDays, RetentionRule.KeepLast, RetentionRule.KeepMonthly], evaluation.Decisions[1].Reasons.Select(r => r.Rule));
        Assert.Empty(evaluation.Decisions.Single(d => Day(d.Backup) == "2026-02-26").Reasons);
    }

    [Fact]
    public void Now_and_start_times_of_any_kind_are_compared_as_utc()
    {
        var backup = Make("2026-02-10T12:00:00Z", hex: "0001");
        var unspecified = new BackupInfo
        {
            Id = "shop_20260210T115959Z_0002",
            Database = "shop",
            Server = "s",
            StartedAt = DateTime.SpecifyKind(Utc("2026-02-10T11:59:59Z"), DateTimeKind.Unspecified),
            ManifestKey = "k",
            ManifestLocation = "k",
            Repository = Repository,
        };
        var nowLocal = Utc("2026-02-11T12:00:00Z").ToLocalTime();

        var evaluation = RetentionEvaluator.Evaluate([backup, unspecified], new RetentionPolicy { RetentionDays = 1 }, nowLocal, TimeZoneInfo.Utc);

        Assert.Equal(["0001"], KeptHexes(evaluation));
    }

    [Fact]
    public void The_same_object_passed_twice_is_judged_once()
    {
        var backup = Make("2026-02-10T12:00:00Z");

        var evaluation = Evaluate([backup, backup], new RetentionPolicy { KeepLast = 1 });

        Assert.Single(evaluation.Decisions);
    }

    private static RetentionEvaluation Evaluate(IEnumerable<BackupInfo> backups, RetentionPolicy policy, TimeZoneInfo? timeZone = null, string now = "2027-06-01T00:00:00Z")
        => RetentionEvaluator.Evaluate(backups, policy, Utc(now), timeZone ?? TimeZoneInfo.Utc);

    /// <summary>One Succeeded backup per day at 01:00 UTC.</summary>
    private static List<BackupInfo> Daily(string firstDay, int days, string database = "shop")
        => Enumerable.Range(0, days).Select(i => Make($"{Utc(firstDay + "T01:00:00Z").AddDays(i):yyyy-MM-dd}T01:00:00Z", database: database)).ToList();

    private static string Day(BackupInfo backup) => backup.StartedAt.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

    private static string Hex(BackupInfo backup) => backup.Id[^4..];

    /// <summary>Succeeded backups of "shop" started at these times, with ids ending 0001, 0002, ... in order.</summary>
    private static BackupInfo[] Series(params string[] startedUtc)
        => startedUtc.Select((started, i) => Make(started, hex: (i + 1).ToString("x4", System.Globalization.CultureInfo.InvariantCulture))).ToArray();

    private static List<string> KeptHexes(RetentionEvaluation evaluation) => evaluation.Kept.Select(d => Hex(d.Backup)).ToList();

    private static List<string> Buckets(RetentionEvaluation evaluation, RetentionRule rule)
        => evaluation.Kept.Select(d => d.Reasons.Single(r => r.Rule == rule).Detail).ToList();

    private static List<string> KeptDays(RetentionEvaluation evaluation) => evaluation.Kept.Select(d => Day(d.Backup)).ToList();
}
