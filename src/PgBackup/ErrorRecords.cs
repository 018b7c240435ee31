using System.Management.Automation;
using PgBackup.Errors;

namespace PgBackup;

/// <summary>Maps core failures to ErrorRecords: the ErrorId is the stable contract scripts match on.</summary>
internal static class ErrorRecords
{
    public static ErrorRecord From(PgBackupException exception, object? targetObject = null)
    {
        var category = Enum.TryParse<ErrorCategory>(exception.Category.ToString(), out var parsed) ? parsed : ErrorCategory.NotSpecified;
        return new ErrorRecord(exception, exception.ErrorId, category, targetObject ?? exception.TargetObject);
    }
}
