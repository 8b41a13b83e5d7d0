using Portcullis.Contracts;
using Portcullis.Defaults.Bus;

namespace Portcullis.UnitTests.Defaults;

public class EventMessageIdTests
{
    [Fact]
    public void A_republished_event_of_one_request_gets_the_same_message_id()
    {
        var request = Guid.NewGuid();
        Assert.Equal(EventMessageId.For<PolicyEvaluated>(request), EventMessageId.For<PolicyEvaluated>(request));
    }

    [Fact]
    public void Different_requests_and_different_events_of_one_request_get_different_ids()
    {
        var (first, second) = (Guid.NewGuid(), Guid.NewGuid());
        var ids = new[]
        {
            EventMessageId.For<PolicyEvaluated>(first), EventMessageId.For<PolicyEvaluated>(second),
            EventMessageId.For<ResponseMasked>(first), EventMessageId.For<ApprovalRequested>(first), first,
        };
        Assert.Equal(ids.Length, ids.Distinct().Count());
    }

    [Fact]
    public void The_id_carries_the_custom_version_and_the_rfc_variant()
    {
        var text = EventMessageId.For<PolicyEvaluated>(Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e")).ToString();
        Assert.Equal('8', text[14]);
        Assert.Contains(text[19], "89ab");
    }
}
