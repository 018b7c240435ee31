using System.Net.Sockets;

namespace PgBackup.Storage;

/// <summary>Recognises a broken or refused connection under whatever a store's SDK wrapped it in.</summary>
internal static class NetworkFailure
{
    /// <summary>The connection failed (refused, reset, name not resolved, body cut short) somewhere in the exception's causes.</summary>
    public static bool IsNetworkFailure(Exception ex) => Causes(ex).Any(cause => cause is HttpRequestException or SocketException or IOException);

    /// <summary>The deepest cause: the message that says what really happened ("Connection refused").</summary>
    public static Exception Innermost(Exception ex)
    {
        var current = ex;
        while ((current is AggregateException aggregate ? aggregate.InnerExceptions.LastOrDefault() : current.InnerException) is { } inner)
        {
            current = inner;
        }

        return current;
    }

    /// <summary>The exception and its causes, every inner exception of an AggregateException (an SDK's "retry failed") included.</summary>
    private static IEnumerable<Exception> Causes(Exception ex)
    {
        var pending = new Stack<Exception>([ex]);
        while (pending.TryPop(out var current))
        {
            yield return current;
            if (current is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    pending.Push(inner);
                }
            }
            else if (current.InnerException is { } inner)
            {
                pending.Push(inner);
            }
        }
    }
}
