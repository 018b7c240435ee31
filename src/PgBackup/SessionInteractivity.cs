using System.Management.Automation.Host;

namespace PgBackup;

/// <summary>
/// Whether someone can answer a prompt in this session. Scheduled tasks, cron and CI pipelines must never be
/// left waiting on a prompt (or fail on one), and backups they make are tagged "automated". A question for the
/// cmdlet layer — it owns the host — asked on the pipeline thread.
/// </summary>
internal static class SessionInteractivity
{
    // Set by the CI systems our users run (GitHub Actions, Azure DevOps, GitLab, Jenkins, TeamCity…).
    private static readonly string[] CiVariables = ["CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "TEAMCITY_VERSION", "BUILD_BUILDID"];

    /// <summary>The host has a user interface with a console, and the process is one a user sits at.</summary>
    public static bool CanPrompt(PSHost host)
        => host.UI?.RawUI is not null
            && IsInteractive(Environment.GetEnvironmentVariable, Console.IsInputRedirected, Environment.UserInteractive, Environment.GetCommandLineArgs());

    /// <summary>The process-level facts, apart so they are testable: no CI, input from a terminal, no -NonInteractive.</summary>
    public static bool IsInteractive(Func<string, string?> environment, bool inputRedirected, bool userInteractive, IEnumerable<string> commandLine)
    {
        if (!userInteractive || inputRedirected)
        {
            return false;
        }

        if (CiVariables.Any(name => !string.IsNullOrEmpty(environment(name)) && !string.Equals(environment(name), "false", StringComparison.OrdinalIgnoreCase)))
        {
            return false;
        }

        return !commandLine.Any(arg => arg.Equals("-NonInteractive", StringComparison.OrdinalIgnoreCase)
            || arg.Equals("-noni", StringComparison.OrdinalIgnoreCase));
    }
}
