using PgBackup.Errors;
using PgBackup.Restore;

namespace PgBackup.Tests.Unit;

public class GlobalsScriptTests
{
    // What pg_dumpall 15 --globals-only writes (a role with a quoted name, a multi-line comment, a parameter grant).
    private const string Dump = """
        --
        -- PostgreSQL database cluster dump
        --

        \restrict X5NjXqXuDys95o2cqtvl03qfDS5x3nZQuQJeHd1EhkoOZX0O2AxvYf109JrooAP

        SET default_transaction_read_only = off;

        SET client_encoding = 'UTF8';
        SET standard_conforming_strings = on;

        CREATE ROLE app;
        ALTER ROLE app WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB LOGIN NOREPLICATION NOBYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:xAYp==$k1gf=:cH2I=';
        COMMENT ON ROLE app IS 'it''s; still
        the comment';
        CREATE ROLE "we;ird";
        ALTER ROLE "we;ird" WITH NOSUPERUSER INHERIT NOCREATEROLE NOCREATEDB NOLOGIN NOREPLICATION NOBYPASSRLS;
        ALTER ROLE app SET work_mem TO '8MB';
        GRANT app TO "we;ird" GRANTED BY postgres;
        GRANT SET ON PARAMETER work_mem TO app;
        CREATE TABLESPACE fast OWNER app LOCATION '/srv/fast';

        \unrestrict X5NjXqXuDys95o2cqtvl03qfDS5x3nZQuQJeHd1EhkoOZX0O2AxvYf109JrooAP

        --
        -- PostgreSQL database cluster dump complete
        --
        """;

    [Fact]
    public void Parses_what_pg_dumpall_writes_into_classified_statements()
    {
        var statements = GlobalsScript.Parse(Dump, "test");
        Assert.Equal(
            [
                GlobalsStatementKind.SessionSetting, GlobalsStatementKind.SessionSetting, GlobalsStatementKind.SessionSetting,
                GlobalsStatementKind.CreateRole, GlobalsStatementKind.AlterRoleAttributes, GlobalsStatementKind.CommentOnRole,
                GlobalsStatementKind.CreateRole, GlobalsStatementKind.AlterRoleAttributes, GlobalsStatementKind.AlterRoleSetting,
                GlobalsStatementKind.GrantRole, GlobalsStatementKind.ParameterPrivilege, GlobalsStatementKind.CreateTablespace,
            ],
            statements.Select(s => s.Kind));
        Assert.Equal("we;ird", statements[6].Role);
        Assert.Equal("we;ird", statements[9].Role);
        Assert.Equal("fast", statements[11].Tablespace);
        Assert.Contains("still\nthe comment", statements[5].Sql, StringComparison.Ordinal);
    }

    [Fact]
    public void Never_shows_a_password_hash()
    {
        var alter = GlobalsScript.Parse(Dump, "test")[4];
        Assert.Contains("SCRAM-SHA-256", alter.Sql, StringComparison.Ordinal);
        Assert.DoesNotContain("SCRAM", alter.Shown, StringComparison.Ordinal);
        Assert.EndsWith("PASSWORD '***'", alter.Shown, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("DROP DATABASE shop;")]
    [InlineData("CREATE ROLE x; DROP ROLE y;")]
    [InlineData("ALTER ROLE app WITH LOGIN;\n\\! rm -rf /\n")]
    [InlineData("COMMENT ON ROLE app IS E'\\' ; DROP DATABASE shop; --';")]
    [InlineData("CREATE ROLE x /* hidden */;")]
    [InlineData("DO $$ BEGIN PERFORM 1; END $$;")]
    [InlineData("GRANT app TO x; SELECT pg_catalog.set_config('search_path', '', false), pg_sleep(10);")]
    [InlineData("CREATE ROLE x")]
    [InlineData("COPY t FROM PROGRAM 'id';")]
    public void Refuses_anything_pg_dumpall_does_not_write(string script)
    {
        var error = Assert.Throws<UnsafeDumpException>(() => GlobalsScript.Parse(script, "test"));
        Assert.DoesNotContain("rm -rf", error.Message, StringComparison.Ordinal);
    }
}
