using System.Text;
using PgBackup.Restore;

namespace PgBackup.Tests.Unit;

public sealed class RestoreNamingTests
{
    private static readonly DateTime SwapTime = new(2026, 3, 4, 5, 6, 7, DateTimeKind.Utc);

    [Fact]
    public void Short_names_keep_the_whole_target_and_add_the_marker()
    {
        Assert.Equal("shop_pre_restore_20260304050607", RestoreNaming.PreviousName("shop", SwapTime));
        Assert.Equal("shop_restoring_0a1b2c3d", RestoreNaming.StagingName("shop", "0a1b2c3d"));
    }

    [Fact]
    public void A_second_try_within_the_same_second_gets_a_counter()
    {
        Assert.Equal("shop_pre_restore_20260304050607_2", RestoreNaming.PreviousName("shop", SwapTime, attempt: 2));
    }

    [Fact]
    public void A_63_byte_target_is_shortened_so_the_whole_name_is_63_bytes_and_keeps_its_suffix()
    {
        var target = new string('t', 63);
        var previous = RestoreNaming.PreviousName(target, SwapTime);
        var staging = RestoreNaming.StagingName(target, "0a1b2c3d");

        Assert.Equal(63, Encoding.UTF8.GetByteCount(previous));
        Assert.EndsWith("_pre_restore_20260304050607", previous, StringComparison.Ordinal);
        Assert.StartsWith(new string('t', 63 - "_pre_restore_20260304050607".Length), previous, StringComparison.Ordinal);
        Assert.Equal(63, Encoding.UTF8.GetByteCount(staging));
        Assert.EndsWith("_restoring_0a1b2c3d", staging, StringComparison.Ordinal);
    }

    [Fact]
    public void Multibyte_characters_are_never_cut_in_half()
    {
        // 21 three-byte characters = 63 bytes; the budget for the target part is 36 bytes = 12 characters.
        var target = new string('日', 21);
        var previous = RestoreNaming.PreviousName(target, SwapTime);

        Assert.Equal(new string('日', 12) + "_pre_restore_20260304050607", previous);
        Assert.True(Encoding.UTF8.GetByteCount(previous) <= RestoreNaming.MaxIdentifierBytes);
    }

    [Fact]
    public void Surrogate_pairs_are_kept_whole()
    {
        // 🐘 is 4 UTF-8 bytes and 2 UTF-16 chars; budget 36 bytes = 9 elephants.
        var target = string.Concat(Enumerable.Repeat("🐘", 16));
        var previous = RestoreNaming.PreviousName(target, SwapTime);

        Assert.Equal(string.Concat(Enumerable.Repeat("🐘", 9)) + "_pre_restore_20260304050607", previous);
        Assert.Equal(previous, Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(previous)));
    }

    [Fact]
    public void Quotes_and_spaces_pass_through_unchanged_for_the_caller_to_quote()
    {
        Assert.Equal("it's \"x\" y_restoring_ab", RestoreNaming.StagingName("it's \"x\" y", "ab"));
    }

    [Theory]
    [InlineData("shop", true)]
    [InlineData("", false)]
    [InlineData("a\0b", false)]
    [InlineData("ééééééééééééééééééééééééééééééé", true)] // 31 × 2 bytes = 62
    [InlineData("éééééééééééééééééééééééééééééééé", false)] // 32 × 2 bytes = 64
    public void Database_names_PostgreSQL_would_shorten_are_refused(string name, bool acceptable)
    {
        Assert.Equal(acceptable, RestoreNaming.ProblemWithDatabaseName(name) is null);
    }
}
