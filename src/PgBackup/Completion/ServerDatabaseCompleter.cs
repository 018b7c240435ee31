using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using PgBackup.Connection;
using PgBackup.Server;

namespace PgBackup.Completion;

/// <summary>
/// Completes database names (-Database, -ExcludeDatabase, -TargetDatabase) from the server the command line typed so
/// far connects to: -Server/-Host, -Port, -Credential, -ConnectionString, else DATABASE_URL and the PG* variables,
/// as the cmdlet itself would. Waits at most <see cref="CompletionValues.Timeout"/>, and offers nothing when the
/// server cannot be reached: never an error, never a prompt.
/// </summary>
public sealed class ServerDatabaseCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(
        string commandName, string parameterName, string wordToComplete, CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var credential = CompletionValues.Value(fakeBoundParameters, "Credential") as PSCredential;
        var options = new ConnectionOptions
        {
            Server = CompletionValues.Text(fakeBoundParameters, "Server", "Host"),
            Port = int.TryParse(CompletionValues.Text(fakeBoundParameters, "Port"), out var port) ? port : null,
            Username = credential?.UserName,
            Password = credential?.GetNetworkCredential().Password,
            ConnectionString = CompletionValues.Text(fakeBoundParameters, "ConnectionString"),
        };
        var names = CompletionValues.WithinTimeout(async cancellationToken =>
        {
            var settings = ConnectionResolver.Resolve(options);
            await using var server = new PgServer(settings);
            // Any database: the list comes from the catalogue, whatever database the settings name.
            return await new DatabaseAdmin(server).ListDatabasesAsync("%", cancellationToken).ConfigureAwait(false);
        });
        return CompletionValues.Matching(
            wordToComplete,
            names.Where(name => name is not ("template0" or "template1")).Select(name => (name, $"Database {name}")));
    }
}
