using System.Management.Automation;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Loader;

namespace PgBackup.Loading;

/// <summary>
/// Hooks PgBackup.Core's loading when the module is imported. PgBackup.dll (the cmdlets) lives in the
/// default load context; PgBackup.Core is deliberately not next to it, so the default context fails to
/// find it and asks <see cref="AssemblyLoadContext.Resolving"/> — answered here, for PgBackup.Core only,
/// from <see cref="DependencyLoadContext"/>. Core's own references (Npgsql, AWSSDK, …) then resolve
/// inside that context, whatever versions other modules loaded into the default one.
/// </summary>
public sealed class ModuleAssemblyLoader : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private const string CoreAssemblyName = "PgBackup.Core";

    private static readonly object Gate = new();
    private static bool _registered;
    private static List<string> _typeNames = [];

    public void OnImport()
    {
        // Import-Module -Force, or another runspace importing too, must not stack handlers.
        lock (Gate)
        {
            if (_registered) return;
            AssemblyLoadContext.Default.Resolving += ResolveCore;
            _registered = true;
            _typeNames = PublishCoreTypeNames(LoadCore());
        }
    }

    public void OnRemove(PSModuleInfo psModuleInfo)
    {
        // Core stays loaded (a default-context binding is never undone); this only stops answering new requests.
        lock (Gate)
        {
            if (!_registered) return;
            AssemblyLoadContext.Default.Resolving -= ResolveCore;
            TypeAccelerators.Remove(_typeNames);
            _typeNames = [];
            _registered = false;
        }
    }

    private static Assembly? ResolveCore(AssemblyLoadContext context, AssemblyName name)
    {
        // Everything else is none of our business: answering for Npgsql here would defeat the isolation.
        if (!string.Equals(name.Name, CoreAssemblyName, StringComparison.Ordinal)) return null;
        // Not staged (no dependencies/PgBackup.Core.dll): null also keeps the two contexts from asking each other forever.
        var dependencies = DependencyLoadContext.Instance;
        return dependencies.Holds(name) ? dependencies.LoadFromAssemblyName(name) : null;
    }

    // Not inlined: naming a Core type makes the JIT bind PgBackup.Core, which must wait until ResolveCore is registered.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Assembly LoadCore() => typeof(BackupInfo).Assembly;

    /// <summary>
    /// PowerShell resolves type literals ([PgBackup.BackupInfo], -is, casts) only among default-context
    /// assemblies. When Core lives in our context, its public types are published under their full names
    /// so scripts name the very types the cmdlets emit. (A host that references Core itself needs nothing.)
    /// </summary>
    private static List<string> PublishCoreTypeNames(Assembly core)
    {
        if (AssemblyLoadContext.GetLoadContext(core) == AssemblyLoadContext.Default) return [];
        return TypeAccelerators.Add(core.GetExportedTypes());
    }
}
