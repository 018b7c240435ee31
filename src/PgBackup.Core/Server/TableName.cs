namespace PgBackup.Server;

/// <summary>
/// A table, unquoted. <see cref="Key"/> (<c>schema.table</c>, each part always double-quoted) is the
/// one form used for row counts in manifests and checks: unambiguous for any name.
/// </summary>
internal sealed record TableName(string Schema, string Name)
{
    public string Quoted => DatabaseAdmin.QuoteIdentifier(Schema) + "." + DatabaseAdmin.QuoteIdentifier(Name);

    public string Key => Quoted;

    public override string ToString() => Quoted;
}
