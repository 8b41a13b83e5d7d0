namespace Portcullis.UnitTests.Masking;

/// <summary>A value split between a JSON property's name and its value, or across names: names are parts of the document's text too.</summary>
public class NameSplitTests
{
    [Theory]
    [InlineData("""{"alice@exa":"mple.com"}""", "alice", "mple.com")]
    [InlineData("""{"alice@":"example.com"}""", "alice", "example")]
    [InlineData("""{"id":1,"alice":"@example.com","ok":true}""", "alice", "example")]
    [InlineData("""{"alice@exa":{"mple.com":1}}""", "alice", "mple.com")]
    [InlineData("""{"4111 1111":"1111 1111"}""", "4111", "1111")]
    [InlineData("""{"4111111":111111111}""", "4111111", "111111111")]
    [InlineData("""{"AKIAIOSFOD":"NN7EXAMPLE"}""", "AKIAIOSFOD", "NN7EXAMPLE")]
    [InlineData("""{"x":"alice@exa","mple.com":null}""", "alice", "mple.com")]
    public void A_value_split_between_names_and_values_is_masked(string body, params string[] parts) =>
        Evasion.AssertHidden("application/json", body, parts);

    [Theory]
    [InlineData("""{"user":"alice","domain":"example.com"}""")]
    [InlineData("""{"user":"alice","example.com":true}""")]
    [InlineData("""{"2019":4111,"2020":1111,"2021":1111}""")]
    [InlineData("""{"contact":{"name":"Ada","city":"London"}}""")]
    [InlineData("""{"twitter":"@bob","web":"bob.com"}""")]
    public void Names_beside_values_that_make_nothing_stay(string body) => Evasion.AssertKept("application/json", body);
}
