using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using PgBackup.Catalog;
using PgBackup.Storage;
using PgBackup.Storage.Azure;
using PgBackup.Storage.S3;

namespace PgBackup.Completion;

/// <summary>
/// Completes backup Ids (Get-PgBackupInfo -Id) from the repository typed so far (-Repository), else
/// $env:PGBACKUP_REPOSITORY, else ./backups — newest first, from the listing alone (no manifest is read). Waits at
/// most <see cref="CompletionValues.Timeout"/> and offers nothing when the repository cannot be read.
/// </summary>
public sealed class BackupIdCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(
        string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var location = CompletionValues.Text(fakeBoundParameters, "Repository", "Destination")
            ?? (Environment.GetEnvironmentVariable(RepositoryFactory.RepositoryVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment : "./backups");
        if (!location.Contains("://", StringComparison.Ordinal))
        {
            // Relative to PowerShell's current location, like the cmdlet: completion runs on the pipeline thread.
            using var shell = PowerShell.Create(RunspaceMode.CurrentRunspace);
            location = shell.AddScript("$ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($args[0])").AddArgument(location)
                .Invoke<string>().FirstOrDefault() ?? location;
        }

        var s3Options = new S3RepositoryOptions
        {
            Endpoint = CompletionValues.Text(fakeBoundParameters, "S3Endpoint"),
            Region = CompletionValues.Text(fakeBoundParameters, "S3Region"),
        };
        var ids = CompletionValues.WithinTimeout(cancellationToken =>
            new BackupCatalog(RepositoryFactory.Open(location, s3Options, new AzureRepositoryOptions())).ListIdsAsync(cancellationToken));
        return CompletionValues.Matching(wordToComplete, ids.Select(id => (id, $"Backup {id}")));
    }
}
