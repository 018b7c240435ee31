using System.Management.Automation;
using System.Reflection;

namespace PgBackup.Loading;

/// <summary>
/// PowerShell's type accelerator table (System.Management.Automation.TypeAccelerators: public methods on
/// an internal class, the table behind [psobject]-style names). Not in PowerShellStandard.Library, hence
/// reflection; names already taken are left alone.
/// </summary>
internal static class TypeAccelerators
{
    private static readonly Type Table = typeof(PSObject).Assembly.GetType("System.Management.Automation.TypeAccelerators", throwOnError: true)!;
    private static readonly MethodInfo AddMethod = Table.GetMethod("Add", [typeof(string), typeof(Type)])!;
    private static readonly MethodInfo RemoveMethod = Table.GetMethod("Remove", [typeof(string)])!;
    private static readonly PropertyInfo GetProperty = Table.GetProperty("Get")!;

    /// <summary>Adds each type under its full name; returns the names it added.</summary>
    public static List<string> Add(IEnumerable<Type> types)
    {
        var taken = (IDictionary<string, Type>)GetProperty.GetValue(null)!;
        var added = new List<string>();
        foreach (var type in types)
        {
            if (type.FullName is not { } name || taken.ContainsKey(name)) continue;
            AddMethod.Invoke(null, [name, type]);
            added.Add(name);
        }
        return added;
    }

    public static void Remove(IEnumerable<string> names)
    {
        foreach (var name in names) RemoveMethod.Invoke(null, [name]);
    }
}
