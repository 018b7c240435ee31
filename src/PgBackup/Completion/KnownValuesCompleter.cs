using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using PgBackup.Storage.S3;

namespace PgBackup.Completion;

/// <summary>Completes a parameter from a fixed list of values, each with a tooltip.</summary>
public abstract class KnownValuesCompleter : IArgumentCompleter
{
    private protected abstract IEnumerable<(string Value, string ToolTip)> Candidates { get; }

    public IEnumerable<CompletionResult> CompleteArgument(
        string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
        => CompletionValues.Matching(wordToComplete, Candidates);
}

/// <summary>Completes -StorageClass from the storage classes S3 knows (<see cref="S3StorageClasses"/>).</summary>
public sealed class StorageClassCompleter : KnownValuesCompleter
{
    private protected override IEnumerable<(string Value, string ToolTip)> Candidates => S3StorageClasses.All;
}

/// <summary>Completes -S3Region from the AWS regions the SDK knows (<see cref="S3Regions"/>).</summary>
public sealed class S3RegionCompleter : KnownValuesCompleter
{
    private protected override IEnumerable<(string Value, string ToolTip)> Candidates => S3Regions.All;
}
