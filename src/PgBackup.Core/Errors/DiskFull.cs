namespace PgBackup.Errors;

/// <summary>Recognises "no space left" (or "over quota") among an exception and its inner exceptions, on every OS.</summary>
internal static class DiskFull
{
    // Unix: .NET puts the errno itself in HResult. ENOSPC is 28 everywhere; EDQUOT is 122 on Linux, 69 on macOS/BSD.
    private const int Enospc = 28;
    private const int EdquotLinux = 122;
    private const int EdquotBsd = 69;

    // Windows: ERROR_HANDLE_DISK_FULL (39) and ERROR_DISK_FULL (112), as HRESULTs.
    private const int HandleDiskFull = unchecked((int)0x80070027);
    private const int WindowsDiskFull = unchecked((int)0x80070070);

    public static bool IsDiskFull(Exception? exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is IOException io && IsDiskFullCode(io.HResult))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsDiskFullCode(int hresult)
        => OperatingSystem.IsWindows()
            ? hresult is HandleDiskFull or WindowsDiskFull
            : hresult is Enospc || (OperatingSystem.IsLinux() ? hresult == EdquotLinux : hresult == EdquotBsd);
}
