using System.Text;
using PgBackup.Errors;

namespace PgBackup.Connection;

/// <summary>
/// Parses the connection-string forms users carry around: libpq URIs
/// (<c>postgresql://u:p@h:5432/db?sslmode=require</c>), libpq key=value strings, and the
/// SQLAlchemy flavour (<c>postgresql+asyncpg://…</c>) found in <c>DATABASE_URL</c>.
/// Returns libpq keywords (host, port, user, password, dbname, sslmode, passfile, …).
/// </summary>
internal static class ConnectionStringParser
{
    public static IReadOnlyDictionary<string, string> Parse(string connectionString)
    {
        ArgumentNullException.ThrowIfNull(connectionString);
        var text = connectionString.Trim();
        if (text.Length == 0)
        {
            throw new InvalidConnectionStringException("The connection string is empty.");
        }

        return LooksLikeUri(text) ? ParseUri(text) : ParseKeyValue(text);
    }

    private static bool LooksLikeUri(string text)
    {
        var schemeEnd = text.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd <= 0)
        {
            return false;
        }

        var scheme = text[..schemeEnd];
        var plus = scheme.IndexOf('+', StringComparison.Ordinal);
        var baseScheme = plus >= 0 ? scheme[..plus] : scheme;
        return baseScheme.Equals("postgresql", StringComparison.OrdinalIgnoreCase)
            || baseScheme.Equals("postgres", StringComparison.OrdinalIgnoreCase);
    }

    private static Dictionary<string, string> ParseUri(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var rest = text[(text.IndexOf("://", StringComparison.Ordinal) + 3)..];

        var queryStart = rest.IndexOf('?', StringComparison.Ordinal);
        var query = queryStart >= 0 ? rest[(queryStart + 1)..] : string.Empty;
        if (queryStart >= 0)
        {
            rest = rest[..queryStart];
        }

        var pathStart = rest.IndexOf('/', StringComparison.Ordinal);
        var authority = pathStart >= 0 ? rest[..pathStart] : rest;
        var path = pathStart >= 0 ? rest[(pathStart + 1)..] : string.Empty;

        // The password may itself contain '@' when not percent-encoded: split at the last one.
        var at = authority.LastIndexOf('@');
        if (at >= 0)
        {
            var userInfo = authority[..at];
            authority = authority[(at + 1)..];
            var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
            var user = colon >= 0 ? userInfo[..colon] : userInfo;
            if (user.Length > 0)
            {
                result["user"] = Decode(user);
            }

            if (colon >= 0)
            {
                result["password"] = Decode(userInfo[(colon + 1)..]);
            }
        }

        if (authority.Length > 0)
        {
            // libpq allows several comma-separated hosts; PgBackup uses the first one.
            var firstHost = authority.Split(',')[0];
            string host;
            string? port = null;
            if (firstHost.StartsWith('['))
            {
                var close = firstHost.IndexOf(']', StringComparison.Ordinal);
                if (close < 0)
                {
                    throw new InvalidConnectionStringException("The connection URI has an unterminated IPv6 address.");
                }

                host = firstHost[1..close];
                if (close + 1 < firstHost.Length && firstHost[close + 1] == ':')
                {
                    port = firstHost[(close + 2)..];
                }
            }
            else
            {
                var colon = firstHost.LastIndexOf(':');
                host = colon >= 0 ? firstHost[..colon] : firstHost;
                port = colon >= 0 ? firstHost[(colon + 1)..] : null;
            }

            if (host.Length > 0)
            {
                result["host"] = Decode(host);
            }

            if (!string.IsNullOrEmpty(port))
            {
                result["port"] = port;
            }
        }

        if (path.Length > 0)
        {
            result["dbname"] = Decode(path);
        }

        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Decode(eq >= 0 ? pair[..eq] : pair);
            var value = eq >= 0 ? Decode(pair[(eq + 1)..]) : string.Empty;
            // SQLAlchemy/asyncpg spell sslmode as "ssl".
            if (key.Equals("ssl", StringComparison.OrdinalIgnoreCase))
            {
                key = "sslmode";
                value = value.Equals("true", StringComparison.OrdinalIgnoreCase) ? "require" : value;
            }

            result[key] = value;
        }

        ValidatePort(result);
        return result;
    }

    private static Dictionary<string, string> ParseKeyValue(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        // Named in errors to say where: a key is no secret, its value may be.
        string? previousKey = null;
        var i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            if (i >= text.Length)
            {
                break;
            }

            var keyStart = i;
            while (i < text.Length && text[i] != '=' && !char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            var key = text[keyStart..i];
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            if (i >= text.Length || text[i] != '=' || key.Length == 0)
            {
                // Position, not text: the word may be the tail of a password with a space in it.
                throw new InvalidConnectionStringException($"The connection string is not a postgresql:// URI nor key=value pairs: expected key=value at character {keyStart + 1}{(previousKey is null ? string.Empty : $", after the value of \"{previousKey}\"")}.");
            }

            i++;
            while (i < text.Length && char.IsWhiteSpace(text[i]))
            {
                i++;
            }

            var value = new StringBuilder();
            if (i < text.Length && text[i] == '\'')
            {
                i++;
                var closed = false;
                while (i < text.Length)
                {
                    if (text[i] == '\\' && i + 1 < text.Length)
                    {
                        value.Append(text[i + 1]);
                        i += 2;
                    }
                    else if (text[i] == '\'')
                    {
                        i++;
                        closed = true;
                        break;
                    }
                    else
                    {
                        value.Append(text[i++]);
                    }
                }

                if (!closed)
                {
                    throw new InvalidConnectionStringException($"The value of \"{key}\" in the connection string has no closing quote.");
                }
            }
            else
            {
                while (i < text.Length && !char.IsWhiteSpace(text[i]))
                {
                    if (text[i] == '\\' && i + 1 < text.Length)
                    {
                        value.Append(text[i + 1]);
                        i += 2;
                    }
                    else
                    {
                        value.Append(text[i++]);
                    }
                }
            }

            result[key] = value.ToString();
            previousKey = key;
        }

        ValidatePort(result);
        return result;
    }

    private static void ValidatePort(Dictionary<string, string> values)
    {
        if (values.TryGetValue("port", out var port) && !(int.TryParse(port, out var number) && number is > 0 and < 65536))
        {
            // Not quoted: in a URI whose password holds an unescaped '/' or '@', what reads as the port is part of the password.
            throw new InvalidConnectionStringException(
                "The connection string has an invalid port (not a number from 1 to 65535). In a postgresql:// URI, percent-encode a '/', '@' or ':' in the user name or password.");
        }
    }

    private static string Decode(string value)
    {
        try
        {
            return Uri.UnescapeDataString(value);
        }
        catch (UriFormatException)
        {
            return value;
        }
    }

    /// <summary>Quotes a value for a libpq key=value connection string (the dbname of pg_dump's -d).</summary>
    public static string QuoteValue(string value)
    {
        var builder = new StringBuilder(value.Length + 2);
        builder.Append('\'');
        foreach (var c in value)
        {
            if (c is '\'' or '\\')
            {
                builder.Append('\\');
            }

            builder.Append(c);
        }

        return builder.Append('\'').ToString();
    }
}
