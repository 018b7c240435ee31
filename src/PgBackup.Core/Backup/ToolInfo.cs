using System.Reflection;

namespace PgBackup.Backup;

/// <summary>Name and version of this tool, as recorded in manifests and object metadata.</summary>
internal static class ToolInfo
{
    public const string Name = "PgBackup";

    public static string Version { get; } =
        typeof(ToolInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0]
        ?? typeof(ToolInfo).Assembly.GetName().Version?.ToString()
        ?? "0.0.0";
}
