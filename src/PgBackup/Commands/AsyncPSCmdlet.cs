using System.Collections.Concurrent;
using System.Management.Automation;
using PgBackup.Diagnostics;
using PgBackup.Errors;

namespace PgBackup.Commands;

/// <summary>
/// Base of every PgBackup cmdlet: the work runs as async code with a CancellationToken that
/// Ctrl+C (StopProcessing) cancels, while output, errors, progress, verbose messages and
/// ShouldProcess prompts are marshalled back to the pipeline thread, the only one allowed to
/// call them.
/// </summary>
public abstract class AsyncPSCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _cancellation = new();
    private BlockingCollection<Action>? _pipelineQueue;
    private int _pipelineThreadId;

    protected CancellationToken CancellationToken => _cancellation.Token;

    protected sealed override void BeginProcessing() => RunOnPipeline(BeginProcessingAsync);

    protected sealed override void ProcessRecord() => RunOnPipeline(ProcessRecordAsync);

    protected sealed override void EndProcessing() => RunOnPipeline(EndProcessingAsync);

    protected override void StopProcessing() => _cancellation.Cancel();

    protected virtual Task BeginProcessingAsync() => Task.CompletedTask;

    protected virtual Task ProcessRecordAsync() => Task.CompletedTask;

    protected virtual Task EndProcessingAsync() => Task.CompletedTask;

    /// <summary>Writes an object from any thread.</summary>
    protected void Emit(object? value) => Post(() => WriteObject(value));

    /// <summary>Writes a non-terminating error for a typed core failure.</summary>
    protected void EmitError(PgBackupException exception, object? targetObject = null)
        => Post(() => WriteError(ErrorRecords.From(exception, targetObject)));

    protected void EmitError(ErrorRecord record) => Post(() => WriteError(record));

    protected void EmitVerbose(string message) => Post(() => WriteVerbose(message));

    protected void EmitWarning(string message) => Post(() => WriteWarning(message));

    protected void EmitInformation(string message, params string[] tags)
        => Post(() =>
        {
            var record = new InformationRecord(message, MyInvocation.MyCommand.Name);
            foreach (var tag in tags)
            {
                record.Tags.Add(tag);
            }

            WriteInformation(record);
        });

    protected void EmitProgress(ProgressRecord record) => Post(() => WriteProgress(record));

    /// <summary>Asks ShouldProcess on the pipeline thread and waits for the answer.</summary>
    protected bool AskShouldProcess(string target, string action)
        => Call(() => ShouldProcess(target, action));

    protected bool AskShouldProcess(string verboseDescription, string verboseWarning, string caption)
        => Call(() => ShouldProcess(verboseDescription, verboseWarning, caption));

    protected bool AskShouldContinue(string query, string caption)
        => Call(() => ShouldContinue(query, caption));

    /// <summary>An <see cref="IOperationLog"/> that writes to this cmdlet's verbose and warning streams.</summary>
    protected IOperationLog CreateLog() => new CmdletLog(this);

    /// <summary>An <see cref="IProgress{T}"/> that writes Write-Progress records.</summary>
    protected IProgress<OperationProgress> CreateProgress(int activityId = 1) => new CmdletProgress(this, activityId);

    public void Dispose()
    {
        _cancellation.Dispose();
        GC.SuppressFinalize(this);
    }

    private void RunOnPipeline(Func<Task> work)
    {
        using var queue = new BlockingCollection<Action>();
        _pipelineQueue = queue;
        _pipelineThreadId = Environment.CurrentManagedThreadId;

        // The synchronous start of the step (binding checks, resolving paths and preferences through
        // SessionState) runs here, on the pipeline thread; after its first real await it continues on
        // the thread pool. No SynchronizationContext may capture those continuations: this thread is
        // about to block on the queue.
        Task task;
        var previousContext = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try
        {
            task = work();
        }
        catch (Exception ex)
        {
            task = Task.FromException(ex);
        }
        finally
        {
            SynchronizationContext.SetSynchronizationContext(previousContext);
        }

        task.ContinueWith(_ => queue.CompleteAdding(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);

        Exception? pipelineFailure = null;
        foreach (var action in queue.GetConsumingEnumerable())
        {
            if (pipelineFailure is not null)
            {
                continue;
            }

            try
            {
                action();
            }
            catch (Exception ex)
            {
                // E.g. PipelineStoppedException when downstream stopped (Select-Object -First):
                // stop the work, drain the queue, then let the exception go.
                pipelineFailure = ex;
                _cancellation.Cancel();
            }
        }

        _pipelineQueue = null;
        try
        {
            task.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (_cancellation.IsCancellationRequested)
        {
            if (pipelineFailure is null)
            {
                throw new PipelineStoppedException();
            }
        }
        catch (PgBackupException ex) when (pipelineFailure is null)
        {
            ThrowTerminatingError(ErrorRecords.From(ex));
        }

        if (pipelineFailure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(pipelineFailure).Throw();
        }
    }

    private void Post(Action action)
    {
        var queue = _pipelineQueue ?? throw new InvalidOperationException("Pipeline output is only possible while the cmdlet runs.");
        if (Environment.CurrentManagedThreadId == _pipelineThreadId)
        {
            // Already on the pipeline thread (the synchronous start of a step): no marshalling needed,
            // and waiting on the queue here would deadlock.
            action();
            return;
        }

        try
        {
            queue.Add(action);
        }
        catch (InvalidOperationException)
        {
            // The step already completed; nothing more can be written.
        }
    }

    private T Call<T>(Func<T> function)
    {
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(() =>
        {
            try
            {
                completion.SetResult(function());
            }
            catch (Exception ex)
            {
                completion.SetException(ex);
                throw;
            }
        });
        return completion.Task.WaitAsync(CancellationToken).GetAwaiter().GetResult();
    }

    private sealed class CmdletLog(AsyncPSCmdlet cmdlet) : IOperationLog
    {
        public void Verbose(string message) => cmdlet.EmitVerbose(message);

        public void Warning(string message) => cmdlet.EmitWarning(message);
    }

    private sealed class CmdletProgress(AsyncPSCmdlet cmdlet, int activityId) : IProgress<OperationProgress>
    {
        public void Report(OperationProgress value)
        {
            var record = new ProgressRecord(activityId, value.Activity, value.Status);
            if (value.BytesTotal is > 0 and var total)
            {
                record.PercentComplete = (int)Math.Clamp(value.BytesDone * 100 / total, 0, 99);
            }

            cmdlet.EmitProgress(record);
        }
    }
}
