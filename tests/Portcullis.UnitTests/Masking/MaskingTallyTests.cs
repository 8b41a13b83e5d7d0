using Portcullis.Masking;
using Portcullis.Masking.Rules;
using Portcullis.Masking.Streaming;
using Portcullis.Masking.Values;

namespace Portcullis.UnitTests.Masking;

public class MaskingTallyTests
{
    [Fact]
    public void Counts_add_up_by_entity_and_by_rule_whichever_string_instances_name_them()
    {
        var tally = new MaskingTally();
        tally.Add("EMAIL", "detector:email");
        tally.Add(new string("EMAIL".AsSpan()), new string("detector:email".AsSpan()));
        tally.Add("EMAIL", "rule:contacts");
        tally.Add("CARD", "detector:card");
        var other = new MaskingTally();
        other.Add("CARD", "detector:card");
        tally.AddAll(other);

        Assert.Equal(new Dictionary<string, int> { ["EMAIL"] = 3, ["CARD"] = 2 }, tally.Counts);
        Assert.Equal(new Dictionary<string, int> { ["detector:email"] = 2, ["rule:contacts"] = 1, ["detector:card"] = 2 }, tally.Rules);
    }
}
