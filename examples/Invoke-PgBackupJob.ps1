#Requires -Version 7.4
<#
.SYNOPSIS
The nightly PgBackup job, for cron, systemd, Task Scheduler and CI pipelines.

.DESCRIPTION
1. Backs up every database of the server (templates excluded) and its globals (roles, tablespaces), with row counts.
2. Tests each new backup at the Structure level (checksum + pg_restore --list + tables against the manifest); the
   globals, a SQL script, at the Checksum level.
3. On -RestoreTestDay (Sunday by default): test-restores the newest backup of each database into a temporary
   database (Test-PgBackup -Level Restore), which is always dropped again.
4. Applies the retention policy (GFS: -KeepDaily, -KeepWeekly, -KeepMonthly; the newest good backup always stays).
5. Writes every outcome to the audit log (-LogPath, else $env:PGBACKUP_LOG) and one summary line to the output.

The connection comes from the environment, as with psql: DATABASE_URL, or PGHOST, PGPORT, PGUSER and PGPASSWORD
(or a pgpass file). The repository is -Repository, else $env:PGBACKUP_REPOSITORY, else ./backups.

Exit code, for the scheduler: 0 when every backup, test and removal succeeded; 1 when anything failed (the errors are
on the error stream and in the audit log).

.EXAMPLE
pwsh -NoProfile -NonInteractive -File ./Invoke-PgBackupJob.ps1 -Repository /var/backups/pg -LogPath /var/log/pgbackup/audit.jsonl
#>
[CmdletBinding()]
param(
    # Folder, s3://bucket/prefix or az://container/prefix; default $env:PGBACKUP_REPOSITORY, else ./backups.
    [string] $Repository,
    # The audit log (JSON Lines); default $env:PGBACKUP_LOG.
    [string] $LogPath,
    # Databases not to back up (wildcards; "a,b" also works, as pwsh -File passes a list as one string).
    [string[]] $ExcludeDatabase = @(),
    # The days of the week on which the newest backups are test-restored.
    [System.DayOfWeek[]] $RestoreTestDay = @([System.DayOfWeek]::Sunday),
    [int] $KeepDaily = 7,
    [int] $KeepWeekly = 5,
    [int] $KeepMonthly = 12
)

$ErrorActionPreference = 'Stop'
Import-Module PgBackup

# Parameters every step shares; an empty one is left to the cmdlets' own defaults (the environment).
$logging = @{}
if ($LogPath) { $logging.LogPath = $LogPath }
$store = @{} + $logging
if ($Repository) { $store.Repository = $Repository }

$failures = [System.Collections.Generic.List[object]]::new()
function Invoke-JobStep {
    # Runs one step and passes its output on. Its errors, non-terminating or terminating, are shown on the error
    # stream and counted as failures of the job, but never stop it: retention still runs after a failed backup.
    param([Parameter(Mandatory)] [scriptblock] $Step)
    $ErrorActionPreference = 'Continue'
    try {
        & $Step 2>&1 | ForEach-Object {
            if ($_ -is [System.Management.Automation.ErrorRecord]) { $failures.Add($_); Write-Error -ErrorRecord $_ }
            else { $_ }
        }
    }
    catch {
        $failures.Add($_)
        Write-Error -ErrorRecord $_
    }
}

$backupOptions = @{ AllDatabases = $true; IncludeGlobals = $true; RowCounts = $true } + $store
if ($ExcludeDatabase) { $backupOptions.ExcludeDatabase = @($ExcludeDatabase -split ',' | ForEach-Object Trim | Where-Object { $_ }) }
$backups = @(Invoke-JobStep { New-PgBackup @backupOptions })

# Structure reads a database dump's table of contents (pg_restore --list); the globals are a SQL script from
# pg_dumpall, checked at Checksum level (size, SHA-256, compression frames).
$tested = @(Invoke-JobStep {
        $succeeded = @($backups | Where-Object Status -EQ 'Succeeded')
        $succeeded | Where-Object Kind -EQ 'Database' | Test-PgBackup -Level Structure @logging
        $succeeded | Where-Object Kind -EQ 'Globals' | Test-PgBackup -Level Checksum @logging
    })

$restoreTested = @()
if ((Get-Date).DayOfWeek -in $RestoreTestDay) {
    $restoreTested = @(Invoke-JobStep { Get-PgBackupInfo -Kind Database -Status Succeeded -Latest @store | Test-PgBackup -Level Restore @logging })
}

$removed = @(Invoke-JobStep { Remove-PgBackupExpired -KeepDaily $KeepDaily -KeepWeekly $KeepWeekly -KeepMonthly $KeepMonthly -PassThru -Confirm:$false @store })

$exitCode = $failures.Count -eq 0 ? 0 : 1
$globals = @($backups | Where-Object Kind -EQ 'Globals').Count
'PgBackup job {0}: {1} backup(s) ({2} database(s) + {3} globals), {4} verified, {5} restore-tested, {6} expired removed, {7} failure(s); exit {8}' -f @(
    ($exitCode -eq 0 ? 'succeeded' : 'FAILED'), $backups.Count, ($backups.Count - $globals), $globals,
    @($tested | Where-Object Passed).Count, @($restoreTested | Where-Object Passed).Count, $removed.Count, $failures.Count, $exitCode)
exit $exitCode
