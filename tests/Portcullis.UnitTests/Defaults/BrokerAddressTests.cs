using Portcullis.Defaults.Bus;

namespace Portcullis.UnitTests.Defaults;

public class BrokerAddressTests
{
    [Fact]
    public void Parses_an_amqp_uri_with_credentials_and_vhost()
    {
        var address = BrokerAddress.Parse("amqp://portcullis:p%40ss@127.0.0.1:24672/portcullis-tests");
        Assert.Equal(("127.0.0.1", (ushort)24672, "portcullis-tests", "portcullis", "p@ss"),
            (address.Host, address.Port, address.VirtualHost, address.Username, address.Password));
    }

    [Fact]
    public void Defaults_to_port_5672_and_the_root_vhost()
    {
        var address = BrokerAddress.Parse("amqp://rabbit");
        Assert.Equal(((ushort)5672, "/"), (address.Port, address.VirtualHost));
    }

    [Fact]
    public void Never_shows_the_password()
    {
        Assert.DoesNotContain("s3cret", BrokerAddress.Parse("amqp://user:s3cret@host:5672/").ToString());
    }

    [Theory]
    [InlineData(null)]
    [InlineData("http://host/")]
    public void Missing_or_wrong_uris_say_what_to_set(string? uri)
    {
        var error = Assert.Throws<InvalidOperationException>(() => BrokerAddress.Parse(uri));
        Assert.Contains("ConnectionStrings", error.Message);
    }
}
