using System.Text;
using System.Text.RegularExpressions;

namespace PgBackup.Verification;

/// <summary>
/// Reads a plain dump the way psql's lexer will, as it streams past, and finds anything psql would run
/// on the client that pg_dump itself never writes. A plain dump is a psql script: <c>\!</c> runs a shell
/// command, <c>\o</c>/<c>\w</c> write files, <c>\connect</c> switches databases (and with it where the
/// restore lands). pg_dump 15 writes only <c>\restrict &lt;key&gt;</c> and <c>\unrestrict &lt;key&gt;</c> (newer
/// minor releases) at the start of a line, and <c>\.</c> ending COPY data; PgBackup never dumps with
/// <c>--create</c>, so <c>\connect</c> is refused like every other meta-command.
/// <para>
/// psql treats a backslash outside quotes and comments as a meta-command anywhere in a line, so the guard
/// follows SQL's quoting (single and E'' strings, quoted identifiers, dollar quotes, -- and nested /* */
/// comments) across lines, and treats lines as COPY data exactly when psql would: after a one-line
/// <c>COPY … FROM stdin;</c> statement in pg_dump's form (any other COPY is refused, so the two can never
/// disagree about what is data). psql runs with ON_ERROR_STOP, so a failed COPY ends the script instead of
/// its data being read as commands. Lexing depends on standard_conforming_strings (on since PostgreSQL 9.1)
/// and on the client encoding (some client-only encodings hide a backslash inside a character): a line
/// that mentions either is accepted only in the form pg_dump writes, with a server-side encoding.
/// </para>
/// Memory stays bounded: only the current line's first bytes are kept.
/// </summary>
internal sealed partial class PsqlScriptGuard
{
    // Long enough for pg_dump's COPY line of a very wide table (column names are quoted when needed).
    private const int MaxKeptLine = 256 * 1024;
    private static readonly byte[][] Sensitive = ["standard_conforming_strings"u8.ToArray(), "client_encoding"u8.ToArray()];

    // Client-only encodings whose multi-byte characters may contain 0x5C (backslash) or a quote byte.
    private static readonly HashSet<string> UnsafeEncodings = new(StringComparer.OrdinalIgnoreCase)
    {
        "SJIS", "SHIFT_JIS", "SHIFT_JIS_2004", "BIG5", "GBK", "UHC", "GB18030", "JOHAB", "WIN932", "WIN936", "WIN949", "WIN950", "CP932", "CP936", "CP949", "CP950",
    };

    private readonly byte[] _kept = new byte[MaxKeptLine];
    private readonly int[] _sensitiveMatch = new int[Sensitive.Length];
    private State _state = State.Code;
    private long _line = 1;
    private int _column;
    private int _keptLength;
    private bool _lineOverflow;
    private bool _lineMentionsSensitive;
    private bool _lineIsMetaCommand;
    private bool _lineStartedAtStatementStart;
    private bool _atStatementStart = true;
    private int _statementLine = -1;
    private StringBuilder? _firstWord;
    private bool _statementIsCopy;
    private bool _expectCopyNewline;
    private int _blockDepth;
    private bool _escapeString;
    private bool _escapeNext;
    private byte _previous;
    private byte _beforePrevious;
    private readonly List<byte> _dollarTag = [];
    private int _dollarMatch;
    private int _copyLineState;

    private enum State
    {
        Code,
        LineComment,
        BlockComment,
        SingleQuote,
        DoubleQuote,
        DollarOpening,
        DollarQuote,
        CopyData,
        Refused,
    }

    /// <summary>Why the script is refused (line number and kind, never its content); null while it is acceptable.</summary>
    public string? Violation { get; private set; }

    public void Append(ReadOnlySpan<byte> data)
    {
        foreach (var b in data)
        {
            if (_state == State.Refused)
            {
                return;
            }

            Step(b);
        }
    }

    /// <summary>Call at the end of the stream: a last line without a newline is checked too.</summary>
    public void Complete()
    {
        if (_state == State.Refused)
        {
            return;
        }

        if (_column > 0)
        {
            Step((byte)'\n');
        }

        if (_state == State.CopyData)
        {
            Refuse("the dump ends inside COPY data (no \\. terminator)");
        }
    }

    private void Step(byte b)
    {
        if (_state == State.CopyData)
        {
            StepCopyData(b);
            return;
        }

        if (_column == 0)
        {
            _lineStartedAtStatementStart = _atStatementStart && _state == State.Code;
        }

        Keep(b);
        if (b != (byte)'\n')
        {
            _column++;
        }

        if (_state != State.Refused)
        {
            // What the next byte sees as its predecessor: nothing after a two-byte token or a closing delimiter.
            var previous = Lex(b);
            _beforePrevious = _previous;
            _previous = previous;
        }

        if (b == (byte)'\n' && _state != State.Refused)
        {
            EndLine();
        }
    }

    private byte Lex(byte b)
    {
        switch (_state)
        {
            case State.LineComment:
                if (b == (byte)'\n')
                {
                    _state = State.Code;
                }

                return b;
            case State.BlockComment:
                if (_previous == (byte)'/' && b == (byte)'*')
                {
                    _blockDepth++;
                    return 0; // "/*/" is not also a close
                }

                if (_previous == (byte)'*' && b == (byte)'/')
                {
                    if (--_blockDepth == 0)
                    {
                        _state = State.Code;
                    }

                    return 0;
                }

                return b;
            case State.SingleQuote:
                if (_escapeNext)
                {
                    _escapeNext = false;
                }
                else if (_escapeString && b == (byte)'\\')
                {
                    _escapeNext = true;
                }
                else if (b == (byte)'\'')
                {
                    // '' inside a literal closes and reopens it: the same for our purpose.
                    _state = State.Code;
                    return 0;
                }

                return b;
            case State.DoubleQuote:
                if (b == (byte)'"')
                {
                    _state = State.Code;
                    return 0;
                }

                return b;
            case State.DollarOpening:
                if (b == (byte)'$')
                {
                    _state = State.DollarQuote;
                    _dollarMatch = 0;
                    return 0;
                }

                if (IsIdentifierByte(b) && !(_dollarTag.Count == 0 && b is >= (byte)'0' and <= (byte)'9'))
                {
                    _dollarTag.Add(b);
                    return b;
                }

                // Not a dollar quote after all ($1): the byte is ordinary code.
                _state = State.Code;
                return LexCode(b);
            case State.DollarQuote:
                return StepDollarQuote(b);
            default:
                return LexCode(b);
        }
    }

    private byte LexCode(byte b)
    {
        if (_previous == (byte)'-' && b == (byte)'-')
        {
            _state = State.LineComment;
            return 0;
        }

        if (_previous == (byte)'/' && b == (byte)'*')
        {
            _state = State.BlockComment;
            _blockDepth = 1;
            return 0;
        }

        if (b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n' or (byte)'\f')
        {
            EndFirstWord();
            return b;
        }

        if (b == (byte)'\\')
        {
            if (_column != 1)
            {
                Refuse("a psql meta-command (backslash command) in the middle of a line");
                return 0;
            }

            // At the start of a line: checked as a whole when the line ends.
            _lineIsMetaCommand = true;
            _state = State.LineComment;
            return 0;
        }

        if ((b == (byte)'-' || b == (byte)'/') && _atStatementStart)
        {
            // Possibly the start of a comment: decided by the next byte.
            return b;
        }

        if (_atStatementStart)
        {
            StartStatement();
        }

        if (_firstWord is not null)
        {
            if (b < 0x80 && char.IsAsciiLetter((char)b))
            {
                _firstWord.Append((char)b);
            }
            else
            {
                EndFirstWord();
            }
        }

        switch (b)
        {
            case (byte)'\'':
                _state = State.SingleQuote;
                _escapeString = _previous is (byte)'E' or (byte)'e' && !IsIdentifierByte(_beforePrevious);
                _escapeNext = false;
                break;
            case (byte)'"':
                _state = State.DoubleQuote;
                break;
            case (byte)'$' when IsIdentifierByte(_previous):
                // An identifier with a '$' (pg_dump quotes those) or a number followed by a dollar quote:
                // psql's reading depends on the token before, so neither form is accepted.
                Refuse("a '$' directly after a name or number");
                return 0;
            case (byte)'$':
                _state = State.DollarOpening;
                _dollarTag.Clear();
                break;
            case (byte)';':
                EndStatement();
                break;
        }

        return b;
    }

    private void StartStatement()
    {
        _atStatementStart = false;
        _statementLine = (int)Math.Min(_line, int.MaxValue);
        _firstWord = new StringBuilder();
        _statementIsCopy = false;
    }

    private void EndFirstWord()
    {
        if (_firstWord is null)
        {
            return;
        }

        _statementIsCopy = _firstWord.ToString().Equals("COPY", StringComparison.OrdinalIgnoreCase);
        _firstWord = null;
    }

    private void EndStatement()
    {
        EndFirstWord();
        _atStatementStart = true;
        if (!_statementIsCopy)
        {
            return;
        }

        // pg_dump's form only: "COPY <table> (<columns>) FROM stdin;" alone on one line.
        if (_statementLine != _line || !_lineStartedAtStatementStart || _lineOverflow
            || !KeptLine().StartsWith("COPY ", StringComparison.Ordinal) || !KeptLine().EndsWith(" FROM stdin;", StringComparison.Ordinal))
        {
            Refuse("a COPY statement that is not pg_dump's one-line COPY … FROM stdin");
            return;
        }

        _expectCopyNewline = true;
        _statementIsCopy = false;
    }

    private byte StepDollarQuote(byte b)
    {
        // Looking for "$tag$"; the tag holds no '$', so a mismatch can only restart at a '$'.
        var delimiterLength = _dollarTag.Count + 2;
        var expected = _dollarMatch == 0 || _dollarMatch == delimiterLength - 1 ? (byte)'$' : _dollarTag[_dollarMatch - 1];
        if (b == expected)
        {
            if (++_dollarMatch == delimiterLength)
            {
                _state = State.Code;
                return 0;
            }
        }
        else
        {
            _dollarMatch = b == (byte)'$' ? 1 : 0;
        }

        return b;
    }

    private void StepCopyData(byte b)
    {
        // Data lines are data; only a line that is exactly "\." ends them (psql's rule).
        if (b == (byte)'\n')
        {
            if (_copyLineState is 2 or 3)
            {
                _state = State.Code;
                _atStatementStart = true;
                _previous = 0;
            }

            _copyLineState = 0;
            _line++;
            _column = 0;
            return;
        }

        _copyLineState = (_copyLineState, b) switch
        {
            (0, (byte)'\\') => 1,
            (1, (byte)'.') => 2,
            (2, (byte)'\r') => 3,
            _ => -1,
        };
        _column++;
    }

    private void EndLine()
    {
        if (_lineIsMetaCommand && !IsPgDumpMetaCommand(KeptLine()))
        {
            Refuse(KeptLine().StartsWith("\\connect", StringComparison.Ordinal) || KeptLine().StartsWith("\\c ", StringComparison.Ordinal)
                ? "a \\connect meta-command (PgBackup restores into the database it created; it never dumps with --create)"
                : "a psql meta-command pg_dump does not write");
            return;
        }

        if (_lineMentionsSensitive && !IsPgDumpSetting(KeptLine()))
        {
            Refuse("a change of standard_conforming_strings or client_encoding that is not pg_dump's (it would change how psql reads the rest)");
            return;
        }

        if (_expectCopyNewline)
        {
            _expectCopyNewline = false;
            _state = State.CopyData;
            _copyLineState = 0;
        }

        _line++;
        _column = 0;
        _keptLength = 0;
        _lineOverflow = false;
        _lineMentionsSensitive = false;
        _lineIsMetaCommand = false;
        Array.Clear(_sensitiveMatch);
    }

    private void Keep(byte b)
    {
        if (b != (byte)'\n')
        {
            if (_keptLength < _kept.Length)
            {
                _kept[_keptLength++] = b;
            }
            else
            {
                _lineOverflow = true;
            }
        }

        // Rolling, case-insensitive search for the settings that change psql's lexing.
        var lower = b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b + 32) : b;
        for (var i = 0; i < Sensitive.Length; i++)
        {
            var word = Sensitive[i];
            _sensitiveMatch[i] = lower == word[_sensitiveMatch[i]] ? _sensitiveMatch[i] + 1 : lower == word[0] ? 1 : 0;
            if (_sensitiveMatch[i] == word.Length)
            {
                _lineMentionsSensitive = true;
                _sensitiveMatch[i] = 0;
            }
        }

        if (_expectCopyNewline && b is not ((byte)'\n' or (byte)'\r'))
        {
            Refuse("text after a COPY … FROM stdin statement on the same line");
        }
    }

    private string KeptLine()
        => _lineOverflow ? string.Empty : Encoding.UTF8.GetString(_kept, 0, _keptLength).TrimEnd('\r');

    private static bool IsPgDumpMetaCommand(string line) => RestrictLine().IsMatch(line);

    private static bool IsPgDumpSetting(string line)
    {
        if (line == "SET standard_conforming_strings = on;")
        {
            return true;
        }

        var encoding = ClientEncodingLine().Match(line);
        return encoding.Success && !UnsafeEncodings.Contains(encoding.Groups[1].Value);
    }

    private void Refuse(string what)
    {
        Violation ??= $"line {_line}: {what}";
        _state = State.Refused;
    }

    private static bool IsIdentifierByte(byte b)
        => b >= 0x80 || b == (byte)'_' || b == (byte)'$' || (b < 0x80 && char.IsAsciiLetterOrDigit((char)b));

    [GeneratedRegex(@"^\\(restrict|unrestrict) [A-Za-z0-9]+$")]
    private static partial Regex RestrictLine();

    [GeneratedRegex(@"^SET client_encoding = '([A-Za-z0-9_]+)';$")]
    private static partial Regex ClientEncodingLine();
}
