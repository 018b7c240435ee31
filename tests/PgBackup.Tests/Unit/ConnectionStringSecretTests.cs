using PgBackup.Connection;
using PgBackup.Errors;

namespace PgBackup.Tests.Unit;

/// <summary>
/// A rejected connection string is described without quoting any value from it (issue 9): whatever follows
/// "password" — the password, a piece of it split off by a stray space or slash, or a later value — stays out of the message.
/// </summary>
public class ConnectionStringSecretTests
{
    [Theory]
    // A space in an unquoted password: the rest looks like a key without '='.
    [InlineData("host=db password=Hunter2 Tail9x dbname=app", "Hunter2", "Tail9x")]
    [InlineData("password=Pa55 w0rdPart", "Pa55", "w0rdPart")]
    // A value after the password that is malformed.
    [InlineData("user=u password=Zebra77 port=Zq81", "Zebra77", "Zq81")]
    [InlineData("password=Kiwi3 port=99999", "Kiwi3", "99999")]
    // An unescaped '/' in a URI password cuts the authority short: its first half reads as a port.
    [InlineData("postgresql://admin:Gr4pe/Fruit@db.example/app", "Gr4pe", "Fruit")]
    [InlineData("postgresql://admin:Mango8@db.example:Pear1/app", "Mango8", "Pear1")]
    [InlineData("postgres://admin:Lime5@db.example:70000/app", "Lime5", "70000")]
    [InlineData("password='Plum4 never closed", "Plum4", "never closed")]
    public void A_rejected_string_quotes_no_value_after_password(string text, string password, string laterValue)
    {
        var error = Assert.Throws<InvalidConnectionStringException>(() => ConnectionStringParser.Parse(text));

        Assert.Equal("InvalidConnectionString", error.ErrorId);
        Assert.DoesNotContain(password, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(laterValue, error.Message, StringComparison.Ordinal);
    }
}
