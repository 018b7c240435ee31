using PgBackup.Errors;

namespace PgBackup.Storage;

/// <summary>One call into a store's SDK, its failures mapped to PgBackup's typed errors (a cancellation the caller asked for passes through).</summary>
internal static class StoreCall
{
    public static async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> call, Func<Exception, PgBackupException> translate, CancellationToken cancellationToken)
    {
        try
        {
            return await call(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            throw translate(ex);
        }
    }
}
