using System.Text.RegularExpressions;
using PgBackup.Server;

namespace PgBackup.Artifacts;

/// <summary>An entry of <c>pg_restore --list</c> output.</summary>
internal sealed record TocEntry(string Type, string? Schema, string Name);

/// <summary>
/// Parses <c>pg_restore --list</c>: lines such as <c>215; 1259 16386 TABLE public categories postgres</c>.
/// Table names come back in the <c>schema.table</c> form used for row counts.
/// </summary>
internal static partial class ArchiveToc
{
    public static IReadOnlyList<TocEntry> Parse(string listOutput)
    {
        var entries = new List<TocEntry>();
        foreach (var rawLine in listOutput.Split('\n'))
        {
            var line = rawLine.TrimEnd('\r');
            if (line.StartsWith(';') || line.Length == 0)
            {
                continue;
            }

            var match = EntryPattern().Match(line);
            if (!match.Success)
            {
                continue;
            }

            var rest = match.Groups["rest"].Value;
            foreach (var type in KnownTypes)
            {
                if (rest.StartsWith(type + " ", StringComparison.Ordinal))
                {
                    var fields = rest[(type.Length + 1)..].Split(' ');
                    // "<schema> <name> <owner>"; schema is "-" for objects without one.
                    if (fields.Length >= 2)
                    {
                        var schema = fields[0] == "-" ? null : fields[0];
                        var name = string.Join(' ', fields[1..^1].Length > 0 ? fields[1..^1] : fields[1..]);
                        entries.Add(new TocEntry(type, schema, name));
                    }

                    break;
                }
            }
        }

        return entries;
    }

    /// <summary>
    /// Tables whose definitions the archive holds, as unquoted (schema, name) pairs. Names that contain
    /// spaces are read as "everything between the schema and the owner", which is what --list prints.
    /// </summary>
    public static IReadOnlyList<TableName> Tables(string listOutput)
        => Parse(listOutput).Where(e => e.Type == "TABLE" && e.Schema is not null)
            .Select(e => new TableName(e.Schema!, e.Name))
            .Distinct()
            .OrderBy(t => t.Schema, StringComparer.Ordinal).ThenBy(t => t.Name, StringComparer.Ordinal)
            .ToList();

    // Longest first, so "TABLE DATA" is not read as "TABLE".
    private static readonly string[] KnownTypes = ["TABLE DATA", "TABLE ATTACH", "TABLE", "SEQUENCE SET", "SEQUENCE OWNED BY", "SEQUENCE", "INDEX", "CONSTRAINT", "FK CONSTRAINT", "VIEW", "MATERIALIZED VIEW DATA", "MATERIALIZED VIEW", "FUNCTION", "SCHEMA", "EXTENSION", "TYPE", "DEFAULT", "TRIGGER", "COMMENT", "ACL"];

    [GeneratedRegex(@"^\d+;\s+\d+\s+\d+\s+(?<rest>.*)$")]
    private static partial Regex EntryPattern();
}
