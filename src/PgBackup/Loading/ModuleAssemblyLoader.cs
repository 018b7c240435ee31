using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace PgBackup.Loading;

/// <summary>
/// Hooks PgBackup.Core's loading when the module is imported. PgBackup.dll (the cmdlets) and PgBackup.Types.dll
/// (the output types, listed in the manifest's RequiredAssemblies) live in the default load context; PgBackup.Core
/// is deliberately not next to them, so the default context fails to find it and asks
/// <see cref="AssemblyLoadContext.Resolving"/> — answered here, for PgBackup.Core only, from
/// <see cref="DependencyLoadContext"/>. Core's own references (Npgsql, AWSSDK, …) then resolve inside that
/// context, whatever versions other modules loaded into the default one.
/// </summary>
public sealed class ModuleAssemblyLoader : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private const string CoreAssemblyName = "PgBackup.Core";

    private static readonly object Gate = new();

    // Imports not yet removed, over every runspace of the process: one runspace's Remove-Module must not
    // take the resolver away from another runspace that still uses the module.
    private static int _imports;

    public void OnImport()
    {
        lock (Gate)
        {
            if (_imports++ == 0)
            {
                AssemblyLoadContext.Default.Resolving += ResolveCore;
            }
        }
    }

    public void OnRemove(PSModuleInfo psModuleInfo)
    {
        // Core stays loaded (a default-context binding is never undone); this only stops answering new requests
        // once no runspace has the module imported any more.
        lock (Gate)
        {
            if (_imports > 0 && --_imports == 0)
            {
                AssemblyLoadContext.Default.Resolving -= ResolveCore;
            }
        }
    }

    private static Assembly? ResolveCore(AssemblyLoadContext context, AssemblyName name)
    {
        // Everything else is none of our business: answering for Npgsql here would defeat the isolation.
        if (!string.Equals(name.Name, CoreAssemblyName, StringComparison.Ordinal))
        {
            return null;
        }

        // Not staged (no dependencies/PgBackup.Core.dll): null also keeps the two contexts from asking each other forever.
        var dependencies = DependencyLoadContext.Instance;
        return dependencies.Holds(name) ? dependencies.LoadFromAssemblyName(name) : null;
    }
}
