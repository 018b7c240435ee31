using System.Text;
using System.Text.RegularExpressions;
using PgBackup.Errors;

namespace PgBackup.Restore;

/// <summary>The kinds of statement pg_dumpall --globals-only writes: the only ones a globals restore runs.</summary>
internal enum GlobalsStatementKind
{
    /// <summary>SET x = y; and SELECT pg_catalog.set_config(...): the script's session settings.</summary>
    SessionSetting,
    CreateRole,

    /// <summary>ALTER ROLE r WITH … (attributes, password hash).</summary>
    AlterRoleAttributes,

    /// <summary>ALTER ROLE r [IN DATABASE d] SET/RESET …: a role setting.</summary>
    AlterRoleSetting,
    CommentOnRole,

    /// <summary>GRANT role TO member …: a membership.</summary>
    GrantRole,
    CreateTablespace,

    /// <summary>ALTER/COMMENT ON/GRANT/REVOKE … TABLESPACE t.</summary>
    TablespaceDetail,

    /// <summary>GRANT/REVOKE … ON PARAMETER p TO/FROM role (PostgreSQL 15+).</summary>
    ParameterPrivilege,
}

/// <summary>One statement of a globals script: its text, its kind and the role or tablespace it is about.</summary>
internal sealed record GlobalsStatement(string Sql, GlobalsStatementKind Kind, string? Role, string? Tablespace, long Line)
{
    /// <summary>The statement as it may be shown (-WhatIf, verbose, errors, results): a password hash never is.</summary>
    public string Shown => GlobalsScript.Redact(Sql);
}

/// <summary>
/// Reads what pg_dumpall --globals-only wrote — untrusted input, since it comes from a repository — into statements,
/// accepting only the statement kinds pg_dumpall writes (and its \restrict/\unrestrict/\connect lines, which are not
/// run); anything else refuses the whole script with UnsafeDump before one statement runs. Statements are split
/// the way PostgreSQL's lexer would (single-quoted strings with '' doubling, quoted identifiers, -- comments);
/// what pg_dumpall never writes and would make that splitting ambiguous (E'' strings, dollar quotes, /* */
/// comments) is refused too, so a statement run is exactly the statement that was checked.
/// </summary>
internal static partial class GlobalsScript
{
    private const string Identifier = @"(?:""(?:[^""]|"""")+""|[A-Za-z_][A-Za-z0-9_$]*)";

    public static IReadOnlyList<GlobalsStatement> Parse(string script, string source)
    {
        var statements = new List<GlobalsStatement>();
        var current = new StringBuilder();
        long line = 1;
        long statementLine = 1;
        var i = 0;
        while (i < script.Length)
        {
            var c = script[i];
            if (current.Length == 0 && char.IsWhiteSpace(c))
            {
                if (c == '\n')
                {
                    line++;
                }

                i++;
                continue;
            }

            if (current.Length == 0 && c == '\\')
            {
                // A psql meta-command line: pg_dumpall writes \restrict/\unrestrict (and \connect between databases).
                var end = script.IndexOf('\n', i);
                var text = (end < 0 ? script[i..] : script[i..end]).TrimEnd('\r');
                if (!MetaCommand().IsMatch(text))
                {
                    throw Refused(source, line, "a psql meta-command pg_dumpall does not write");
                }

                i = end < 0 ? script.Length : end;
                continue;
            }

            if (current.Length == 0 && c == '-' && i + 1 < script.Length && script[i + 1] == '-')
            {
                var end = script.IndexOf('\n', i);
                i = end < 0 ? script.Length : end;
                continue;
            }

            if (current.Length == 0)
            {
                statementLine = line;
            }

            switch (c)
            {
                case '\'' or '"':
                    {
                        if (c == '\'' && i > 0 && script[i - 1] is 'E' or 'e' && (i < 2 || !IsIdentifierChar(script[i - 2])))
                        {
                            throw Refused(source, line, "an E'' string");
                        }

                        var close = i + 1;
                        while (true)
                        {
                            close = script.IndexOf(c, close);
                            if (close < 0)
                            {
                                throw Refused(source, line, "an unterminated quote");
                            }

                            if (close + 1 < script.Length && script[close + 1] == c)
                            {
                                close += 2;
                                continue;
                            }

                            break;
                        }

                        var quoted = script[i..(close + 1)];
                        line += quoted.Count(ch => ch == '\n');
                        current.Append(quoted);
                        i = close + 1;
                        continue;
                    }

                case '$' when current.Length > 0 && !IsIdentifierChar(current[^1]):
                    throw Refused(source, line, "a dollar quote");
                case '/' when i + 1 < script.Length && script[i + 1] == '*':
                    throw Refused(source, line, "a /* */ comment");
                case '-' when i + 1 < script.Length && script[i + 1] == '-':
                    throw Refused(source, line, "a comment inside a statement");
                case ';':
                    statements.Add(Classify(current.ToString().Trim(), statementLine, source));
                    current.Clear();
                    i++;
                    continue;
                case '\n':
                    line++;
                    break;
            }

            current.Append(c);
            i++;
        }

        if (current.ToString().Trim().Length > 0)
        {
            throw Refused(source, statementLine, "a statement without its closing semicolon");
        }

        return statements;
    }

    /// <summary>Replaces every PASSWORD '…' literal with PASSWORD '***'.</summary>
    public static string Redact(string sql) => Password().Replace(sql, "PASSWORD '***'");

    /// <summary>An identifier as PostgreSQL reads it: "quoted" keeps its case (and doubled quotes), plain is folded to lower case.</summary>
    public static string Unquote(string identifier)
        => identifier.StartsWith('"') ? identifier[1..^1].Replace("\"\"", "\"", StringComparison.Ordinal) : identifier.ToLowerInvariant();

    private static GlobalsStatement Classify(string sql, long line, string source)
    {
        if (SessionSetting().IsMatch(sql))
        {
            return new(sql, GlobalsStatementKind.SessionSetting, null, null, line);
        }

        if (CreateRole().Match(sql) is { Success: true } create)
        {
            return new(sql, GlobalsStatementKind.CreateRole, Unquote(create.Groups["role"].Value), null, line);
        }

        if (AlterRoleSetting().Match(sql) is { Success: true } setting)
        {
            return new(sql, GlobalsStatementKind.AlterRoleSetting, Unquote(setting.Groups["role"].Value), null, line);
        }

        if (AlterRoleAttributes().Match(sql) is { Success: true } alter)
        {
            return new(sql, GlobalsStatementKind.AlterRoleAttributes, Unquote(alter.Groups["role"].Value), null, line);
        }

        if (CommentOnRole().Match(sql) is { Success: true } comment)
        {
            return new(sql, GlobalsStatementKind.CommentOnRole, Unquote(comment.Groups["role"].Value), null, line);
        }

        if (GrantRole().Match(sql) is { Success: true } grant)
        {
            return new(sql, GlobalsStatementKind.GrantRole, Unquote(grant.Groups["member"].Value), null, line);
        }

        if (CreateTablespace().Match(sql) is { Success: true } tablespace)
        {
            return new(sql, GlobalsStatementKind.CreateTablespace, null, Unquote(tablespace.Groups["tablespace"].Value), line);
        }

        if (TablespaceDetail().Match(sql) is { Success: true } detail)
        {
            return new(sql, GlobalsStatementKind.TablespaceDetail, null, Unquote(detail.Groups["tablespace"].Value), line);
        }

        if (ParameterPrivilege().Match(sql) is { Success: true } parameter)
        {
            return new(sql, GlobalsStatementKind.ParameterPrivilege, Unquote(parameter.Groups["role"].Value), null, line);
        }

        throw Refused(source, line, "a statement pg_dumpall --globals-only does not write");
    }

    private static bool IsIdentifierChar(char c) => char.IsLetterOrDigit(c) || c is '_' or '$';

    // Line number and kind only: the statement itself may hold a password hash.
    private static UnsafeDumpException Refused(string source, long line, string what)
        => new($"{source} is not a globals script as pg_dumpall writes it: line {line} holds {what}. Nothing was applied.", source);

    [GeneratedRegex(@"^\\(restrict|unrestrict|connect)(\s+\S+)*\s*$")]
    private static partial Regex MetaCommand();

    [GeneratedRegex(@"^(SET\s+[a-z_]+\s*=\s*[A-Za-z0-9_']+|SELECT\s+pg_catalog\.set_config\('[a-z_]+',\s*'[^']*',\s*(true|false)\))$", RegexOptions.IgnoreCase)]
    private static partial Regex SessionSetting();

    [GeneratedRegex(@"^CREATE\s+ROLE\s+(?<role>" + Identifier + @")$", RegexOptions.IgnoreCase)]
    private static partial Regex CreateRole();

    [GeneratedRegex(@"^ALTER\s+ROLE\s+(?<role>" + Identifier + @")\s+WITH\s[^;]*$", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex AlterRoleAttributes();

    [GeneratedRegex(@"^ALTER\s+ROLE\s+(?<role>" + Identifier + @")(\s+IN\s+DATABASE\s+" + Identifier + @")?\s+(SET|RESET)\s[^;]*$", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex AlterRoleSetting();

    [GeneratedRegex(@"^COMMENT\s+ON\s+ROLE\s+(?<role>" + Identifier + @")\s+IS\s+'(?:[^']|'')*'$", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex CommentOnRole();

    [GeneratedRegex(@"^GRANT\s+" + Identifier + @"\s+TO\s+(?<member>" + Identifier + @")(\s+WITH\s+(ADMIN|INHERIT|SET)\s+(OPTION|TRUE|FALSE)(\s*,\s*(ADMIN|INHERIT|SET)\s+(OPTION|TRUE|FALSE))*)?(\s+GRANTED\s+BY\s+" + Identifier + @")?$", RegexOptions.IgnoreCase)]
    private static partial Regex GrantRole();

    [GeneratedRegex(@"^CREATE\s+TABLESPACE\s+(?<tablespace>" + Identifier + @")\s+OWNER\s+" + Identifier + @"\s+LOCATION\s+'(?:[^']|'')*'$", RegexOptions.IgnoreCase)]
    private static partial Regex CreateTablespace();

    [GeneratedRegex(@"^(ALTER\s+TABLESPACE\s+(?<tablespace>" + Identifier + @")\s+SET\s+\([^;]*\)|COMMENT\s+ON\s+TABLESPACE\s+(?<tablespace>" + Identifier + @")\s+IS\s+'(?:[^']|'')*'|(GRANT|REVOKE)\s+[A-Z, ]+\s+ON\s+TABLESPACE\s+(?<tablespace>" + Identifier + @")\s+(TO|FROM)\s+[^;]*)$", RegexOptions.IgnoreCase | RegexOptions.Singleline)]
    private static partial Regex TablespaceDetail();

    [GeneratedRegex(@"^(GRANT|REVOKE)\s+[A-Z, ]+\s+ON\s+PARAMETER\s+[a-z_.]+\s+(TO|FROM)\s+(?<role>" + Identifier + @")(\s+WITH\s+GRANT\s+OPTION)?$", RegexOptions.IgnoreCase)]
    private static partial Regex ParameterPrivilege();

    [GeneratedRegex(@"PASSWORD\s+'(?:[^']|'')*'", RegexOptions.IgnoreCase)]
    private static partial Regex Password();
}
