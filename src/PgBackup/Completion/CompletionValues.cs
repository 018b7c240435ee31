using System.Collections;
using System.Management.Automation;
using System.Text.RegularExpressions;

namespace PgBackup.Completion;

/// <summary>What every PgBackup argument completer shares: the bound values it reads, the time it may take, quoting.</summary>
internal static partial class CompletionValues
{
    /// <summary>How long a completer may wait for a server or repository: a slow Tab is worse than no suggestion.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2.5);

    /// <summary>A parameter's value from the command line typed so far (by name or alias), as text; null when absent.</summary>
    public static string? Text(IDictionary fakeBoundParameters, params string[] names)
        => Value(fakeBoundParameters, names) switch
        {
            null => null,
            PSObject wrapped => wrapped.BaseObject?.ToString(),
            var value => value.ToString(),
        };

    /// <summary>A parameter's value from the command line typed so far (by name or alias), unwrapped; null when absent.</summary>
    public static object? Value(IDictionary fakeBoundParameters, params string[] names)
    {
        foreach (var name in names)
        {
            if (fakeBoundParameters.Contains(name) && fakeBoundParameters[name] is { } value)
            {
                return value is PSObject wrapped ? wrapped.BaseObject : value;
            }
        }

        return null;
    }

    /// <summary>
    /// Runs <paramref name="work"/> for at most <see cref="Timeout"/>; an empty list when it fails or takes longer
    /// (completion stays quiet: no error, no wait).
    /// </summary>
    public static IReadOnlyList<string> WithinTimeout(Func<CancellationToken, Task<IReadOnlyList<string>>> work)
    {
        using var cancellation = new CancellationTokenSource(Timeout);
        try
        {
            var task = Task.Run(() => work(cancellation.Token), cancellation.Token);
            return task.Wait(Timeout) ? task.Result : [];
        }
        catch (Exception)
        {
            // Wrong connection, server down, unreadable repository: simply no suggestions.
            return [];
        }
    }

    /// <summary>The candidates starting with what was typed (quotes around it ignored), quoted where PowerShell needs it.</summary>
    public static IEnumerable<CompletionResult> Matching(string wordToComplete, IEnumerable<(string Value, string ToolTip)> candidates)
    {
        var typed = Unquote(wordToComplete ?? string.Empty);
        return candidates
            .Where(candidate => candidate.Value.StartsWith(typed, StringComparison.OrdinalIgnoreCase))
            .Select(candidate => new CompletionResult(Quote(candidate.Value), candidate.Value, CompletionResultType.ParameterValue, candidate.ToolTip));
    }

    /// <summary>A value as it can be typed: as is when PowerShell reads it as one bare word, else in single quotes.</summary>
    public static string Quote(string value)
        => BareWord().IsMatch(value) ? value : "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    private static string Unquote(string word)
        => word.Length > 0 && word[0] is '\'' or '"' ? word.Trim('\'', '"') : word;

    // Letters, digits and a few punctuation marks that mean nothing to the parser in argument mode.
    [GeneratedRegex(@"^[\p{L}\p{N}_][\p{L}\p{N}_.\-:/]*$")]
    private static partial Regex BareWord();
}
