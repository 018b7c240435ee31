using System.Text;
using PgBackup.Verification;

namespace PgBackup.Tests.Unit;

/// <summary>The plain-dump guard: what pg_dump 15 writes passes, anything psql would run on the client is refused.</summary>
public sealed class PsqlScriptGuardTests
{
    private const string Key = "zyOEbiA3JNlOU0OJIlij61vsmpHOdoJ2HCfybxx7Tw5Bos8bM3fQQ9jiowVL4AP";

    private static readonly string PgDump15 = $$"""
        --
        -- PostgreSQL database dump
        --

        \restrict {{Key}}

        -- Dumped from database version 15.18
        SET statement_timeout = 0;
        SET client_encoding = 'UTF8';
        SET standard_conforming_strings = on;
        SELECT pg_catalog.set_config('search_path', '', false);
        COMMENT ON TABLE public.t IS 'a \ backslash and it''s quoted';
        CREATE FUNCTION public.f() RETURNS text
            LANGUAGE sql
            AS $_$SELECT E'\\! not a command' || $1 || '\'$_$;
        CREATE TABLE public."we;ird ""copy"" \ name" (id integer, note text);
        /* a /* nested */ comment with \! inside */
        SELECT E'it\'s \\ fine';
        COPY public."we;ird ""copy"" \ name" (id, note) FROM stdin;
        1	\\! looks like a command but is data
        \N	\N
        2	'unbalanced quote in data
        \.
        COPY public.empty (id) FROM stdin;
        \.
        SELECT 1; -- a trailing comment with \! in it

        --
        -- PostgreSQL database dump complete
        --

        \unrestrict {{Key}}

        """;

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(4096)]
    public void What_pg_dump_15_writes_passes_whatever_the_chunking(int chunk)
    {
        Assert.Null(Scan(PgDump15, chunk));
    }

    [Theory]
    [InlineData("\\! touch /tmp/x\n", 1)]
    [InlineData("\\restrict abc\n\\! id\n", 2)]
    [InlineData("SELECT 1; \\! id\n", 1)]
    [InlineData("SELECT 1 \\g /tmp/out\n", 1)]
    [InlineData("\\o /tmp/out\n", 1)]
    [InlineData("\\connect postgres\n", 1)]
    [InlineData("\\restrict abc \\! id\n", 1)]
    [InlineData("\\copy t from program 'id'\n", 1)]
    [InlineData("SELECT 'a'\n\\set x 1\n", 2)]
    [InlineData("SELECT 1$$ ' $$ \\! id '\n", 1)]
    [InlineData("copy t from stdin;\n'\n\\.\n\\! id\n", 1)]
    [InlineData("COPY t FROM stdin; SELECT 1;\n1\n\\.\n", 1)]
    [InlineData("SELECT 1; COPY t FROM stdin;\n1\n\\.\n", 1)]
    [InlineData("COPY t\nFROM stdin;\n\\! id\n", 2)]
    [InlineData("SET standard_conforming_strings = off;\nSELECT '\\' \\! id '';\n", 1)]
    [InlineData("SELECT set_config('standard_conforming_strings', 'off', false);\n", 1)]
    [InlineData("SET client_encoding = 'SJIS';\n", 1)]
    [InlineData("COPY t (a) FROM stdin;\n1\n", 3)]
    public void Client_side_commands_are_refused_with_the_line_number(string script, int line)
    {
        var violation = Scan(script, 3);

        Assert.NotNull(violation);
        Assert.StartsWith($"line {line}:", violation);
        Assert.DoesNotContain("/tmp", violation, StringComparison.Ordinal);
        Assert.DoesNotContain(" id", violation, StringComparison.Ordinal);
    }

    [Fact]
    public void Lines_inside_strings_comments_and_dollar_quotes_are_not_commands()
    {
        const string script = "SELECT 'multi\n\\! still a string\n';\nSELECT $tag$\n\\! body\n$tag$;\n/*\n\\! comment\n*/\nSELECT \"ident\n\\! x\";\n";

        Assert.Null(Scan(script, 5));
    }

    [Fact]
    public void A_dump_that_ends_inside_COPY_data_is_refused()
    {
        Assert.NotNull(Scan("COPY public.t (a) FROM stdin;\n1\n2\n", 64));
    }

    private static string? Scan(string script, int chunk)
    {
        var guard = new PsqlScriptGuard();
        var bytes = Encoding.UTF8.GetBytes(script);
        for (var i = 0; i < bytes.Length; i += chunk)
        {
            guard.Append(bytes.AsSpan(i, Math.Min(chunk, bytes.Length - i)));
        }

        guard.Complete();
        return guard.Violation;
    }
}
