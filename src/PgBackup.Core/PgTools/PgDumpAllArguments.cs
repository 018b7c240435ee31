namespace PgBackup.PgTools;

/// <summary>
/// pg_dumpall's argv for a globals backup: roles (with their password hashes — what makes them log in again after a
/// restore), role memberships and settings, tablespaces. No secret goes here: the password travels in the child's
/// environment, as for pg_dump.
/// </summary>
internal static class PgDumpAllArguments
{
    /// <param name="database">The database pg_dumpall connects to (any one does: globals are the server's).</param>
    public static IReadOnlyList<string> Globals(string database)
        => ["--globals-only", "--no-password", "--dbname=dbname=" + Connection.ConnectionStringParser.QuoteValue(database)];
}
