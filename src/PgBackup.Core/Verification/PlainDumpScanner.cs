using System.Text;
using PgBackup.Artifacts;
using PgBackup.Server;

namespace PgBackup.Verification;

/// <summary>
/// Reads a plain SQL dump as it streams past and keeps what pg_restore --list would give for an
/// archive: the tables (from pg_dump's <c>-- Name: x; Type: TABLE; Schema: s; Owner: o</c> comments)
/// and whether the <c>-- PostgreSQL database dump complete</c> footer arrived (a truncated dump lacks
/// it). Only comment lines are buffered, so memory stays bounded however large the COPY data is.
/// </summary>
internal sealed class PlainDumpScanner
{
    private const int MaxCommentLine = 8 * 1024;
    private const string NamePrefix = "-- Name: ";
    private const string CompleteFooter = "-- PostgreSQL database dump complete";

    private readonly List<byte> _line = [];
    private readonly List<TocEntry> _entries = [];
    private readonly PsqlScriptGuard _guard = new();
    private bool _skippingLine;
    private bool _inCopyData;

    /// <summary>The dump's entries, as pg_restore --list would name them for an archive.</summary>
    public IReadOnlyList<TocEntry> Entries => _entries;

    /// <summary>The tables the dump creates (partitions count within their parent).</summary>
    public IReadOnlyList<TableName> Tables => DumpedTables.FromToc(_entries);

    public bool SawCompleteFooter { get; private set; }

    /// <summary>Where and what psql would run that pg_dump never writes (line number and kind, no content); null when none.</summary>
    public string? UnsafeCommand => _guard.Violation;

    public void Append(ReadOnlySpan<byte> data)
    {
        _guard.Append(data);
        while (!data.IsEmpty)
        {
            var newline = data.IndexOf((byte)'\n');
            var chunk = newline < 0 ? data : data[..newline];
            if (!_skippingLine)
            {
                Collect(chunk);
            }

            if (newline < 0)
            {
                return;
            }

            EndLine();
            data = data[(newline + 1)..];
        }
    }

    /// <summary>Call at the end of the stream: a last line without a newline still counts.</summary>
    public void Complete()
    {
        EndLine();
        _guard.Complete();
    }

    private void Collect(ReadOnlySpan<byte> chunk)
    {
        if (_line.Count == 0 && !chunk.IsEmpty && !IsInteresting(chunk[0]))
        {
            _skippingLine = true;
            return;
        }

        if (_line.Count + chunk.Length > MaxCommentLine)
        {
            _skippingLine = true;
            _line.Clear();
            return;
        }

        _line.AddRange(chunk);
    }

    /// <summary>Comments ("-- "), COPY starts and ends ("\."); inside COPY data only its end matters.</summary>
    private bool IsInteresting(byte first) => _inCopyData ? first == (byte)'\\' : first is (byte)'-' or (byte)'C';

    private void EndLine()
    {
        if (!_skippingLine && _line.Count > 0)
        {
            var text = Encoding.UTF8.GetString(_line.ToArray()).TrimEnd('\r');
            if (_inCopyData)
            {
                _inCopyData = text != "\\.";
            }
            else if (text.StartsWith("COPY ", StringComparison.Ordinal) && text.EndsWith(" FROM stdin;", StringComparison.Ordinal))
            {
                // Data lines follow: one that looks like a comment is data, not a table entry.
                _inCopyData = true;
            }
            else if (text.StartsWith(CompleteFooter, StringComparison.Ordinal))
            {
                SawCompleteFooter = true;
            }
            else if (ParseEntry(text) is { } entry)
            {
                _entries.Add(entry);
            }
        }

        _line.Clear();
        _skippingLine = false;
    }

    /// <summary>Parses <c>-- Name: orders; Type: TABLE; Schema: public; Owner: postgres</c>.</summary>
    public static TocEntry? ParseEntry(string line)
    {
        if (!line.StartsWith(NamePrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var typeAt = line.IndexOf("; Type: ", StringComparison.Ordinal);
        var schemaAt = line.IndexOf("; Schema: ", StringComparison.Ordinal);
        if (typeAt < 0 || schemaAt < typeAt)
        {
            return null;
        }

        var type = line[(typeAt + "; Type: ".Length)..schemaAt];
        var ownerAt = line.IndexOf("; Owner: ", schemaAt, StringComparison.Ordinal);
        var schema = ownerAt < 0 ? line[(schemaAt + "; Schema: ".Length)..] : line[(schemaAt + "; Schema: ".Length)..ownerAt];
        var name = line[NamePrefix.Length..typeAt];
        return new TocEntry(type, schema == "-" ? null : schema, name);
    }
}
