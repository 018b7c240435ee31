using Npgsql;
using PgBackup.Artifacts;

namespace PgBackup.Server;

/// <summary>
/// The tables pg_dump writes as tables of their own — the set row counts are taken for and compared
/// against. In an archive: TABLE entries, minus partitions (a TABLE ATTACH entry names them; their
/// rows are counted within the parent). In a live database: <see cref="DatabaseAdmin.ListTablesAsync"/>
/// minus tables that belong to an extension (pg_dump leaves those to CREATE EXTENSION).
/// </summary>
internal static class DumpedTables
{
    public static IReadOnlyList<TableName> FromToc(IEnumerable<TocEntry> entries)
    {
        var list = entries.ToList();
        var partitions = list.Where(e => e.Type == "TABLE ATTACH" && e.Schema is not null).Select(e => new TableName(e.Schema!, e.Name)).ToHashSet();
        return list.Where(e => e.Type == "TABLE" && e.Schema is not null)
            .Select(e => new TableName(e.Schema!, e.Name))
            .Where(t => !partitions.Contains(t))
            .Distinct()
            .ToList();
    }

    public static async Task<IReadOnlyList<TableName>> ListAsync(NpgsqlConnection db, CancellationToken cancellationToken)
    {
        var tables = await DatabaseAdmin.ListTablesAsync(db, cancellationToken).ConfigureAwait(false);
        const string extensionMembers = """
            SELECT n.nspname, c.relname
            FROM pg_depend d JOIN pg_class c ON c.oid = d.objid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE d.classid = 'pg_class'::regclass AND d.deptype = 'e'
            """;
        await using var command = new NpgsqlCommand(extensionMembers, db);
        var members = new HashSet<TableName>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                members.Add(new TableName(reader.GetString(0), reader.GetString(1)));
            }
        }

        return tables.Where(t => !members.Contains(t)).ToList();
    }
}
