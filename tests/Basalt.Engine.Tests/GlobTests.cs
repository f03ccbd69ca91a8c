using System.Text;

namespace Basalt.Engine.Tests;

public sealed class GlobTests
{
    [Theory]
    [InlineData("*", "anything", true)]
    [InlineData("h?llo", "hello", true)]
    [InlineData("h?llo", "hllo", false)]
    [InlineData("h*llo", "heeeello", true)]
    [InlineData("h[ae]llo", "hallo", true)]
    [InlineData("h[ae]llo", "hillo", false)]
    [InlineData("h[^e]llo", "hallo", true)]
    [InlineData("h[^e]llo", "hello", false)]
    [InlineData("h[a-c]llo", "hbllo", true)]
    [InlineData("h[c-a]llo", "hbllo", true)]
    [InlineData("a\\*b", "a*b", true)]
    [InlineData("a\\*b", "axb", false)]
    [InlineData("*o*", "two", true)]
    [InlineData("", "", true)]
    [InlineData("a*", "", false)]
    public void Matches_like_redis(string pattern, string text, bool expected) =>
        Assert.Equal(expected, Glob.Match(Encoding.ASCII.GetBytes(pattern), Encoding.ASCII.GetBytes(text)));

    // Redis's range ends and bytes are signed C chars, ordered before they are case-folded (checked against redis-server:
    // KEYS for the byte ranges, CONFIG GET, which matches without case, for the folded ones).
    [Theory]
    [InlineData("[\u00ff-a]", "A", false, true)]
    [InlineData("[\u00ff-a]", "\u00ff", false, true)]
    [InlineData("[\u00ff-a]", "b", false, false)]
    [InlineData("[\u00ff-a]", "\u0080", false, false)]
    [InlineData("[a-\u0080]", "\u0080", false, true)]
    [InlineData("[a-\u0080]", "\u00ff", false, true)]
    [InlineData("[a-\u0080]", "b", false, false)]
    [InlineData("[\u0080-\u00ff]", "\u00c0", false, true)]
    [InlineData("[Z-a]z", "hz", true, false)]
    [InlineData("[a-Z]z", "hz", true, false)]
    [InlineData("[A-Z]z", "hz", true, true)]
    public void Ranges_compare_signed_chars_and_fold_case_after_ordering(string pattern, string text, bool nocase, bool expected) =>
        Assert.Equal(expected, Glob.Match(Encoding.Latin1.GetBytes(pattern), Encoding.Latin1.GetBytes(text), nocase));

    [Fact]
    public void Many_stars_over_a_long_string_still_match()
    {
        var pattern = Encoding.ASCII.GetBytes("*a*b*c*d");
        var text = Encoding.ASCII.GetBytes(new string('x', 3000) + "a" + new string('y', 3000) + "bcd");
        Assert.True(Glob.Match(pattern, text));
    }

    [Fact]
    public void A_hostile_pattern_finishes()
    {
        var pattern = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("*a", 40)) + "b");
        var text = Encoding.ASCII.GetBytes(new string('a', 60));
        Assert.False(Glob.Match(pattern, text));
    }
}
