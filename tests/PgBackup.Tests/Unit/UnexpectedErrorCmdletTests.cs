using System.Management.Automation;
using System.Management.Automation.Runspaces;
using PgBackup.Commands;

namespace PgBackup.Tests.Unit;

/// <summary>
/// Whatever cmdlet's async work throws something no part of PgBackup expected, the user gets ErrorId UnexpectedError
/// naming the exception type (issue 9, defect 10), not a bare .NET exception without a stable id.
/// </summary>
public class UnexpectedErrorCmdletTests
{
    [Fact]
    public void An_unexpected_exception_in_a_cmdlets_work_is_a_terminating_UnexpectedError_naming_its_type()
    {
        var state = InitialSessionState.CreateDefault2();
        state.Commands.Add(new SessionStateCmdletEntry("Invoke-BuggyWork", typeof(BuggyWorkCommand), null));
        using var powershell = PowerShell.Create(state);
        powershell.AddCommand("Invoke-BuggyWork");

        var error = Assert.Throws<CmdletInvocationException>(() => powershell.Invoke());

        Assert.Equal("UnexpectedError," + typeof(BuggyWorkCommand).FullName, error.ErrorRecord.FullyQualifiedErrorId);
        Assert.Contains(nameof(KeyNotFoundException), error.ErrorRecord.Exception.Message, StringComparison.Ordinal);
        Assert.IsType<KeyNotFoundException>(error.ErrorRecord.Exception.InnerException);
    }

    /// <summary>A cmdlet whose work has a bug.</summary>
    [Cmdlet(VerbsLifecycle.Invoke, "BuggyWork")]
    public sealed class BuggyWorkCommand : AsyncPSCmdlet
    {
        private protected override void OnEnd()
            => RunAsync((_, _) => throw new KeyNotFoundException("the lookup table has no such entry"));
    }
}
