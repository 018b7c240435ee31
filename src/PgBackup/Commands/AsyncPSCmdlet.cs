using System.Collections.Concurrent;
using System.Management.Automation;
using System.Runtime.ExceptionServices;
using PgBackup.Diagnostics;
using PgBackup.Errors;

namespace PgBackup.Commands;

/// <summary>
/// Base of every PgBackup cmdlet. Which thread runs what is explicit:
/// <list type="bullet">
/// <item><see cref="OnBegin"/>, <see cref="OnRecord"/> and <see cref="OnEnd"/> run on the pipeline thread. They
/// bind parameters and resolve everything that belongs to the session — paths through SessionState, the host,
/// connection settings — and then hand the work to <see cref="RunAsync"/>.</item>
/// <item>The work given to <see cref="RunAsync"/> runs on the thread pool, with a CancellationToken that Ctrl+C
/// (StopProcessing) cancels, and reaches PowerShell only through the <see cref="CmdletPipeline"/> it is handed:
/// output, errors, verbose and information messages, progress and confirmation questions are queued to the
/// pipeline thread, which runs them until the work ends.</item>
/// </list>
/// Session-bound helpers (<see cref="EnsurePipelineThread"/>) refuse to run inside that work.
/// </summary>
public abstract class AsyncPSCmdlet : PSCmdlet, IDisposable
{
    // True inside the work handed to RunAsync (it flows to every continuation of that work).
    private static readonly AsyncLocal<bool> InAsyncWork = new();

    private readonly CancellationTokenSource _cancellation = new();

    protected sealed override void BeginProcessing() => OnPipelineThread(OnBegin);

    protected sealed override void ProcessRecord() => OnPipelineThread(OnRecord);

    protected sealed override void EndProcessing()
    {
        OnPipelineThread(OnEnd);
        Audit?.Complete();
    }

    protected override void StopProcessing() => _cancellation.Cancel();

    /// <summary>Where outcomes and failures are recorded (the audit log), or null; read on the pipeline thread.</summary>
    private protected virtual AuditTrail? Audit => null;

    /// <summary>The begin block, on the pipeline thread.</summary>
    private protected virtual void OnBegin()
    {
    }

    /// <summary>The process block (once per pipeline input), on the pipeline thread.</summary>
    private protected virtual void OnRecord()
    {
    }

    /// <summary>The end block, on the pipeline thread.</summary>
    private protected virtual void OnEnd()
    {
    }

    /// <summary>When PowerShell disposes the cmdlet (after the end block, or after a stop or a failure): free what it holds (keys).</summary>
    private protected virtual void OnDispose()
    {
    }

    /// <summary>
    /// Runs <paramref name="work"/> on the thread pool and, meanwhile, carries out on this (the pipeline) thread
    /// whatever it asks of PowerShell through its <see cref="CmdletPipeline"/>. Returns when the work has ended;
    /// a typed core failure it throws becomes a terminating error, Ctrl+C a stopped pipeline.
    /// </summary>
    private protected void RunAsync(Func<CmdletPipeline, CancellationToken, Task> work)
    {
        EnsurePipelineThread();
        using var queue = new BlockingCollection<Action>();
        var pipeline = new CmdletPipeline(this, queue, Audit);
        var token = _cancellation.Token;
        var task = Task.Run(
            async () =>
            {
                InAsyncWork.Value = true;
                try
                {
                    await work(pipeline, token).ConfigureAwait(false);
                }
                finally
                {
                    queue.CompleteAdding();
                }
            },
            CancellationToken.None);

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
            ThrowTerminating(ex);
        }
        catch (Exception ex) when (pipelineFailure is null)
        {
            // Nothing in the core meant this one (a bug): a stable id that says so, and the type that says what.
            ThrowTerminating(UnexpectedErrorException.For(MyInvocation.MyCommand?.Name ?? GetType().Name, ex, ex.Message));
        }

        if (pipelineFailure is not null)
        {
            ExceptionDispatchInfo.Capture(pipelineFailure).Throw();
        }
    }

    /// <summary>Throws when called from the work handed to <see cref="RunAsync"/>: SessionState and the host are the pipeline thread's.</summary>
    private protected static void EnsurePipelineThread()
    {
        if (InAsyncWork.Value)
        {
            throw new InvalidOperationException("Session state is read on the pipeline thread only: resolve it before RunAsync and pass the result in.");
        }
    }

    public void Dispose()
    {
        OnDispose();
        _cancellation.Dispose();
        GC.SuppressFinalize(this);
    }

    private void OnPipelineThread(Action step)
    {
        try
        {
            step();
        }
        catch (PgBackupException ex)
        {
            // A user's mistake caught while binding (bad connection string, bad policy…): an invalid invocation.
            ThrowTerminating(ex);
        }
    }

    /// <summary>Ends the cmdlet with a terminating error for a core failure, recorded like every other failure.</summary>
    private void ThrowTerminating(PgBackupException failure)
    {
        Audit?.RecordFailure(failure, failure.TargetObject);
        ThrowTerminatingError(ErrorRecords.From(failure));
    }
}
