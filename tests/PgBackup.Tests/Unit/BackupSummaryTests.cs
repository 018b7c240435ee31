using PgBackup.Catalog;
using static PgBackup.Tests.Unit.RetentionTestData;

namespace PgBackup.Tests.Unit;

public class BackupSummaryTests
{
    [Fact]
    public void Summarizes_each_database_with_counts_rate_size_dates_and_average_duration_of_successes()
    {
        BackupInfo[] backups =
        [
            Make("2026-02-01T01:00:00Z", durationSeconds: 10, sizeBytes: 1000, hex: "0001"),
            Make("2026-02-02T01:00:00Z", durationSeconds: 20, sizeBytes: 3000, hex: "0002"),
            Make("2026-02-03T01:00:00Z", BackupStatus.Failed, durationSeconds: 1, hex: "0003"),
            Make("2026-02-04T01:00:00Z", durationSeconds: 45, sizeBytes: 500, hex: "0004"),
            Make("2026-02-05T01:00:00Z", BackupStatus.Failed, durationSeconds: 2, hex: "0005"),
            Make("2026-01-15T01:00:00Z", database: "crm", durationSeconds: 7, sizeBytes: 42),
        ];

        var summaries = BackupSummaries.Summarize(backups);

        Assert.Equal(["crm", "shop"], summaries.Select(s => s.Database));
        var shop = summaries[1];
        Assert.Equal(Repository, shop.Repository);
        Assert.Equal(5, shop.Count);
        Assert.Equal(3, shop.SucceededCount);
        Assert.Equal(2, shop.FailedCount);
        Assert.Equal(0.6, shop.SuccessRate, precision: 12);
        Assert.Equal(4500, shop.TotalSizeBytes);
        Assert.Equal(Utc("2026-02-01T01:00:00Z"), shop.Oldest);
        Assert.Equal(Utc("2026-02-05T01:00:00Z"), shop.Newest);
        Assert.Equal(Utc("2026-02-04T01:00:00Z"), shop.LastSucceededAt);
        Assert.Equal(TimeSpan.FromSeconds(25), shop.AverageDuration);

        var crm = summaries[0];
        Assert.Equal((1, 1, 0, 1.0, 42L), (crm.Count, crm.SucceededCount, crm.FailedCount, crm.SuccessRate, crm.TotalSizeBytes));
        Assert.Equal(TimeSpan.FromSeconds(7), crm.AverageDuration);
    }

    [Fact]
    public void A_database_that_never_succeeded_has_no_last_success_and_no_average()
    {
        var summary = Assert.Single(BackupSummaries.Summarize([Make("2026-02-03T01:00:00Z", BackupStatus.Failed)]));

        Assert.Equal(0, summary.SuccessRate);
        Assert.Null(summary.LastSucceededAt);
        Assert.Null(summary.AverageDuration);
        Assert.Equal(1, summary.FailedCount);
    }

    [Fact]
    public void No_backups_give_no_summaries()
    {
        Assert.Empty(BackupSummaries.Summarize([]));
    }

    [Fact]
    public void Repositories_are_summarized_separately()
    {
        var summaries = BackupSummaries.Summarize([Make("2026-02-03T01:00:00Z", repository: "/b"), Make("2026-02-03T01:00:00Z", repository: "/a")]);

        Assert.Equal(["/a", "/b"], summaries.Select(s => s.Repository));
    }
}
