using PgBackup.Errors;
using PgBackup.PgTools;

namespace PgBackup.Tests.Faults;

/// <summary>A pg_dump that never answers <c>--version</c> (issue 9) must not hang the cmdlet.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // a shell-script pg_dump, /proc
public class ToolProbeTests
{
    [Fact]
    public async Task A_pg_dump_that_hangs_on_version_ends_in_PgToolNotFound_saying_so_and_is_killed()
    {
        using var bin = new TempFolder("pgbackup-hangbin");
        var pidFile = Path.Combine(bin.Path, "pid");
        var fake = Path.Combine(bin.Path, "pg_dump");
        await File.WriteAllTextAsync(fake, $"#!/bin/sh\necho $$ > '{pidFile}'\nexec sleep 100000\n");
        File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var locator = new PgToolLocator(name => name == PgToolLocator.BinFolderVariable ? bin.Path : Environment.GetEnvironmentVariable(name), versionTimeout: TimeSpan.FromSeconds(2));

        // The outer bound only keeps a regression from hanging the suite; the probe's own timeout is what ends it.
        var error = await Assert.ThrowsAnyAsync<PgBackupException>(() => locator.FindAsync("pg_dump", 15, CancellationToken.None).WaitAsync(TimeSpan.FromMinutes(2)));

        Assert.Equal("PgToolNotFound", error.ErrorId);
        Assert.Contains(fake, error.Message, StringComparison.Ordinal);
        Assert.Contains("did not answer", error.Message, StringComparison.Ordinal);
        var pid = (await File.ReadAllTextAsync(pidFile)).Trim();
        Assert.False(Directory.Exists("/proc/" + pid), $"the hung probe (pid {pid}) is still running");
    }
}
