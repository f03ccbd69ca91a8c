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
