namespace PgBackup.Diagnostics;

/// <summary>
/// Decides whether someone is at the keyboard. Scheduled tasks, cron and CI pipelines must never
/// be left waiting on a prompt, and backups they make are tagged "automated".
/// </summary>
public static class Interactivity
{
    // Set by the CI systems our users run (GitHub Actions, Azure DevOps, GitLab, Jenkins, TeamCity…).
    private static readonly string[] CiVariables = ["CI", "TF_BUILD", "GITHUB_ACTIONS", "GITLAB_CI", "JENKINS_URL", "TEAMCITY_VERSION", "BUILD_BUILDID"];

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

    public static bool IsInteractiveProcess() => IsInteractive(
        Environment.GetEnvironmentVariable,
        Console.IsInputRedirected,
        Environment.UserInteractive,
        Environment.GetCommandLineArgs());
}
