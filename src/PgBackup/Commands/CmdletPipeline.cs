using System.Collections.Concurrent;
using System.Management.Automation;
using System.Runtime.CompilerServices;
using PgBackup.Diagnostics;
using PgBackup.Errors;

namespace PgBackup.Commands;

/// <summary>
/// What the async work of a cmdlet (<see cref="AsyncPSCmdlet.RunAsync"/>) may ask of PowerShell, from any thread:
/// each call is queued to the pipeline thread, the only one allowed to write to the pipeline or to ask the user.
/// Questions (<see cref="ShouldProcessAsync"/>, <see cref="OnPipelineThreadAsync{T}"/>) are awaited, never blocked on.
/// </summary>
internal sealed class CmdletPipeline
{
    private readonly PSCmdlet _cmdlet;
    private readonly BlockingCollection<Action> _queue;
    private readonly AuditTrail? _audit;

    public CmdletPipeline(PSCmdlet cmdlet, BlockingCollection<Action> queue, AuditTrail? audit)
    {
        _cmdlet = cmdlet;
        _queue = queue;
        _audit = audit;
        Log = new PipelineLog(this);
    }

    /// <summary>Core services' narration, as Write-Verbose and Write-Warning.</summary>
    public IOperationLog Log { get; }

    /// <summary>Writes an outcome to the pipeline, and records it in the audit log.</summary>
    public void WriteObject(object? value)
        => Post(() =>
        {
            _audit?.RecordOutcome(value);
            _cmdlet.WriteObject(value);
        });

    /// <summary>Records an outcome in the audit log that is not written to the pipeline (a removal without -PassThru).</summary>
    public void RecordOutcome(object value) => Post(() => _audit?.RecordOutcome(value));

    /// <summary>A non-terminating error for a typed core failure, recorded in the audit log.</summary>
    public void WriteError(PgBackupException exception, object? targetObject = null)
        => Post(() =>
        {
            _audit?.RecordFailure(exception, targetObject);
            _cmdlet.WriteError(ErrorRecords.From(exception, targetObject));
        });

    public void WriteVerbose(string message) => Post(() => _cmdlet.WriteVerbose(message));

    public void WriteWarning(string message) => Post(() => _cmdlet.WriteWarning(message));

    public void WriteInformation(string message, params string[] tags)
        => Post(() =>
        {
            var record = new InformationRecord(message, _cmdlet.MyInvocation.MyCommand.Name);
            foreach (var tag in tags)
            {
                record.Tags.Add(tag);
            }

            _cmdlet.WriteInformation(record);
        });

    /// <summary>
    /// Starts one operation's progress bar (under <paramref name="parent"/> for one item of a larger run); dispose it
    /// — with <c>using</c> — to complete the bar on every exit path.
    /// </summary>
    public ProgressActivity StartProgress(string activity, ProgressActivity? parent = null)
        => new(record => Post(() => WriteProgress(record)), activity, parent);

    /// <summary>
    /// Writes a progress record under this cmdlet's source id. A stopped pipeline (Ctrl+C) takes no more records, yet
    /// the bars it drew must still go: their Completed records are then handed to the host directly, under the same
    /// source id, and the stop goes on as it would have.
    /// </summary>
    private void WriteProgress(ProgressRecord record)
    {
        var sourceId = RuntimeHelpers.GetHashCode(_cmdlet);
        try
        {
            _cmdlet.CommandRuntime.WriteProgress(sourceId, record);
        }
        catch (PipelineStoppedException) when (record.RecordType == ProgressRecordType.Completed)
        {
            _cmdlet.Host?.UI?.WriteProgress(sourceId, record);
        }
    }

    /// <summary>ShouldProcess on the pipeline thread (-WhatIf, -Confirm, $ConfirmPreference), awaited.</summary>
    public Task<bool> ShouldProcessAsync(string target, string action, CancellationToken cancellationToken)
        => OnPipelineThreadAsync(() => _cmdlet.ShouldProcess(target, action), cancellationToken);

    /// <summary>
    /// Runs <paramref name="function"/> on the pipeline thread — where it may use the cmdlet's session, host,
    /// ShouldProcess and ShouldContinue — and awaits its result (or exception).
    /// </summary>
    public Task<T> OnPipelineThreadAsync<T>(Func<T> function, CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        Post(() =>
        {
            try
            {
                completion.SetResult(function());
            }
            catch (PipelineStoppedException ex)
            {
                // The user stopped the pipeline at a prompt: the whole cmdlet stops, not just this question.
                completion.SetException(ex);
                throw;
            }
            catch (Exception ex)
            {
                completion.SetException(ex);
            }
        });
        return completion.Task.WaitAsync(cancellationToken);
    }

    private void Post(Action action)
    {
        try
        {
            _queue.Add(action);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ObjectDisposedException)
        {
            // The step already completed; nothing more can be written.
        }
    }

    private sealed class PipelineLog(CmdletPipeline pipeline) : IOperationLog
    {
        public void Verbose(string message) => pipeline.WriteVerbose(message);

        public void Warning(string message) => pipeline.WriteWarning(message);
    }
}
