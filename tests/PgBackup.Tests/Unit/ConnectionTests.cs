using PgBackup.Connection;
using PgBackup.Errors;

namespace PgBackup.Tests.Unit;

public class ConnectionStringParserTests
{
    [Fact]
    public void Parses_a_libpq_uri_with_percent_encoded_parts()
    {
        var values = ConnectionStringParser.Parse("postgresql://back%40up:p%40ss%3Aw@db.example.com:6543/my%20db?sslmode=require&connect_timeout=5");

        Assert.Equal("back@up", values["user"]);
        Assert.Equal("p@ss:w", values["password"]);
        Assert.Equal("db.example.com", values["host"]);
        Assert.Equal("6543", values["port"]);
        Assert.Equal("my db", values["dbname"]);
        Assert.Equal("require", values["sslmode"]);
        Assert.Equal("5", values["connect_timeout"]);
    }

    [Fact]
    public void Splits_userinfo_at_the_last_at_sign_when_the_password_is_not_encoded()
    {
        var values = ConnectionStringParser.Parse("postgres://u:pa@ss@h/db");

        Assert.Equal("u", values["user"]);
        Assert.Equal("pa@ss", values["password"]);
        Assert.Equal("h", values["host"]);
    }

    [Theory]
    [InlineData("postgresql+asyncpg://u:p@h:5433/app?ssl=require", "require")]
    [InlineData("postgresql+psycopg2://u:p@h:5433/app?ssl=true", "require")]
    public void Reads_sqlalchemy_urls_as_found_in_DATABASE_URL(string url, string sslmode)
    {
        var values = ConnectionStringParser.Parse(url);

        Assert.Equal("h", values["host"]);
        Assert.Equal("5433", values["port"]);
        Assert.Equal("app", values["dbname"]);
        Assert.Equal(sslmode, values["sslmode"]);
    }

    [Fact]
    public void Reads_ipv6_hosts_in_brackets()
    {
        var values = ConnectionStringParser.Parse("postgresql://[::1]:5444/x");

        Assert.Equal("::1", values["host"]);
        Assert.Equal("5444", values["port"]);
    }

    [Fact]
    public void Reads_a_unix_socket_folder_from_the_query()
    {
        var values = ConnectionStringParser.Parse("postgresql:///shop?host=/var/run/postgresql");

        Assert.Equal("/var/run/postgresql", values["host"]);
        Assert.Equal("shop", values["dbname"]);
    }

    [Fact]
    public void Parses_key_value_strings_with_quotes_and_escapes()
    {
        var values = ConnectionStringParser.Parse(@"host=db1 port = 5432 dbname='my \'quoted\' db' user=admin password=se\ cret");

        Assert.Equal("db1", values["host"]);
        Assert.Equal("5432", values["port"]);
        Assert.Equal("my 'quoted' db", values["dbname"]);
        Assert.Equal("admin", values["user"]);
        Assert.Equal("se cret", values["password"]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("host")]
    [InlineData("dbname='unterminated")]
    [InlineData("postgresql://h:notaport/db")]
    [InlineData("postgresql://h:70000/db")]
    public void Rejects_malformed_strings_with_InvalidConnectionString(string text)
    {
        var error = Assert.Throws<InvalidConnectionStringException>(() => ConnectionStringParser.Parse(text));
        Assert.Equal("InvalidConnectionString", error.ErrorId);
    }

    [Fact]
    public void Does_not_echo_the_password_when_rejecting_a_string()
    {
        var error = Assert.Throws<InvalidConnectionStringException>(() => ConnectionStringParser.Parse("postgresql://u:TopSecret@h:bad/db"));
        Assert.DoesNotContain("TopSecret", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("plain", "'plain'")]
    [InlineData("it's", @"'it\'s'")]
    [InlineData(@"back\slash", @"'back\\slash'")]
    [InlineData("a=b c", "'a=b c'")]
    public void Quotes_conninfo_values(string value, string expected)
        => Assert.Equal(expected, ConnectionStringParser.QuoteValue(value));
}

public class ConnectionResolverTests
{
    private static Func<string, string?> Env(params (string Key, string Value)[] values)
    {
        var map = values.ToDictionary(v => v.Key, v => v.Value);
        return key => map.TryGetValue(key, out var value) ? value : null;
    }

    [Fact]
    public void Defaults_to_localhost_5432()
    {
        var settings = ConnectionResolver.Resolve(new ConnectionOptions(), Env());

        Assert.Equal("localhost", settings.Host);
        Assert.Equal(5432, settings.Port);
        Assert.Null(settings.Password);
    }

    [Fact]
    public void Explicit_parameters_beat_the_connection_string_which_beats_the_libpq_variables()
    {
        var env = Env(("PGHOST", "envhost"), ("PGPORT", "1111"), ("PGUSER", "envuser"), ("PGPASSWORD", "envpw"), ("PGDATABASE", "envdb"), ("PGSSLMODE", "disable"));

        var settings = ConnectionResolver.Resolve(
            new ConnectionOptions { Server = "cli", ConnectionString = "postgresql://csuser:cspw@cshost:2222/csdb?sslmode=require" },
            env);

        Assert.Equal("cli", settings.Host);
        Assert.Equal(2222, settings.Port);
        Assert.Equal("csuser", settings.Username);
        Assert.Equal("cspw", settings.Password);
        Assert.Equal("csdb", settings.Database);
        Assert.Equal("require", settings.SslMode);
    }

    [Fact]
    public void Uses_DATABASE_URL_only_when_no_connection_string_is_given()
    {
        var env = Env(("DATABASE_URL", "postgresql+asyncpg://app:pw@urlhost:3333/appdb"));

        var fromUrl = ConnectionResolver.Resolve(new ConnectionOptions(), env);
        var fromParameter = ConnectionResolver.Resolve(new ConnectionOptions { ConnectionString = "host=other" }, env);

        Assert.Equal(("urlhost", 3333, "app", "appdb"), (fromUrl.Host, fromUrl.Port, fromUrl.Username, fromUrl.Database));
        Assert.Equal("other", fromParameter.Host);
        Assert.Null(fromParameter.Database);
    }

    [Fact]
    public void Falls_back_to_the_libpq_variables()
    {
        var env = Env(("PGHOST", "envhost"), ("PGPORT", "1111"), ("PGUSER", "envuser"), ("PGPASSWORD", "envpw"), ("PGPASSFILE", "/x/pgpass"));

        var settings = ConnectionResolver.Resolve(new ConnectionOptions(), env);

        Assert.Equal(("envhost", 1111, "envuser", "envpw", "/x/pgpass"), (settings.Host, settings.Port, settings.Username, settings.Password, settings.PassFile));
    }

    [Theory]
    [InlineData("db1:6000", "db1", 6000)]
    [InlineData("[::1]:6001", "::1", 6001)]
    [InlineData("/var/run/postgresql", "/var/run/postgresql", 5432)]
    public void Accepts_host_colon_port_in_Server(string server, string host, int port)
    {
        var settings = ConnectionResolver.Resolve(new ConnectionOptions { Server = server }, Env());

        Assert.Equal((host, port), (settings.Host, settings.Port));
    }

    [Fact]
    public void Never_prints_the_password()
    {
        var settings = ConnectionResolver.Resolve(new ConnectionOptions { Username = "u", Password = "Hunter2!" }, Env());

        Assert.DoesNotContain("Hunter2!", settings.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("Hunter2!", settings.ServerDisplay, StringComparison.Ordinal);
    }

    [Fact]
    public void Rejects_a_bad_PGPORT()
    {
        Assert.Throws<InvalidConnectionStringException>(() => ConnectionResolver.Resolve(new ConnectionOptions(), Env(("PGPORT", "abc"))));
    }
}
