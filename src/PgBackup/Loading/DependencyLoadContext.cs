using System.Reflection;
using System.Runtime.Loader;

namespace PgBackup.Loading;

/// <summary>
/// The private load context for PgBackup.Core and everything it depends on (Npgsql, AWSSDK, ZstdSharp, …),
/// all staged in the dependencies/ folder next to PgBackup.dll. Other modules in the same session may
/// have loaded other versions of those assemblies into the default context; here ours never meet theirs.
/// The one exception is PgBackup.Types: Core's output types must be the very types the cmdlets, the format
/// views and scripts see, so that assembly always comes from the default context.
/// </summary>
internal sealed class DependencyLoadContext : AssemblyLoadContext
{
    public const string FolderName = "dependencies";

    private static readonly Lazy<DependencyLoadContext> Shared = new(
        () => new DependencyLoadContext(Path.Combine(Path.GetDirectoryName(typeof(DependencyLoadContext).Assembly.Location)!, FolderName)));

    private readonly string _folder;

    private DependencyLoadContext(string folder)
        : base("PgBackup")
    {
        _folder = folder;
    }

    /// <summary>One context per process: a second copy of PgBackup.Core would give its types a second identity.</summary>
    public static DependencyLoadContext Instance => Shared.Value;

    /// <summary>Whether build.ps1 staged this assembly in dependencies/ (a test host may reference Core directly instead).</summary>
    public bool Holds(AssemblyName assemblyName) => File.Exists(PathOf(assemblyName));

    /// <summary>
    /// PgBackup.Types is the default context's; an assembly staged in dependencies/ loads from there; anything
    /// else (the framework) returns null, which falls back to the default context.
    /// </summary>
    protected override Assembly? Load(AssemblyName assemblyName)
    {
        if (string.Equals(assemblyName.Name, SharedTypes.GetName().Name, StringComparison.Ordinal))
        {
            return SharedTypes;
        }

        return Holds(assemblyName) ? LoadFromAssemblyPath(PathOf(assemblyName)) : null;
    }

    /// <summary>PgBackup.Types as the cmdlets bound it: in the default context.</summary>
    private static Assembly SharedTypes => typeof(BackupInfo).Assembly;

    private string PathOf(AssemblyName assemblyName) => Path.Combine(_folder, assemblyName.Name + ".dll");
}
