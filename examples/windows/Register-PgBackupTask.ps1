#Requires -Version 7.4
<#
.SYNOPSIS
Registers the nightly PgBackup job (Invoke-PgBackupJob.ps1) with the Windows Task Scheduler.

.DESCRIPTION
Runs pwsh.exe -NoProfile -NonInteractive -File Invoke-PgBackupJob.ps1 every night, as a service account, whether or
not anyone is logged on. The task's last result is the job's exit code: 0 when everything succeeded, 1 when anything
failed (Task Scheduler's history and monitoring see it). Run this script elevated, once, on the backup machine.

The PostgreSQL password: %APPDATA%\postgresql\pgpass.conf of the task's account (or PGPASSWORD as a machine
variable), never the task's command line, which any local user can read.

.EXAMPLE
./Register-PgBackupTask.ps1 -JobScript C:\PgBackup\Invoke-PgBackupJob.ps1 -Repository D:\Backups\pg -LogPath D:\Backups\pgbackup-audit.jsonl
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [string] $JobScript = 'C:\PgBackup\Invoke-PgBackupJob.ps1',
    [string] $Repository = 'D:\Backups\pg',
    [string] $LogPath = 'D:\Backups\pgbackup-audit.jsonl',
    [string] $TaskName = 'PgBackup nightly',
    [datetime] $At = '02:30',
    # A (group) managed service account is best: no password to store. NT AUTHORITY\NETWORK SERVICE works too.
    [string] $UserId = 'NT AUTHORITY\NETWORK SERVICE'
)

$ErrorActionPreference = 'Stop'
$arguments = "-NoProfile -NonInteractive -ExecutionPolicy Bypass -File `"$JobScript`" -Repository `"$Repository`" -LogPath `"$LogPath`""
$action = New-ScheduledTaskAction -Execute 'pwsh.exe' -Argument $arguments -WorkingDirectory (Split-Path $JobScript)
$trigger = New-ScheduledTaskTrigger -Daily -At $At
# A night missed while the machine was off runs when it is back; never two jobs at once; stop a job hung for 6 hours.
$settings = New-ScheduledTaskSettingsSet -StartWhenAvailable -MultipleInstances IgnoreNew -ExecutionTimeLimit (New-TimeSpan -Hours 6)
$principal = New-ScheduledTaskPrincipal -UserId $UserId -LogonType ServiceAccount -RunLevel Limited
if ($PSCmdlet.ShouldProcess($TaskName, 'Register the nightly PgBackup job')) {
    Register-ScheduledTask -TaskName $TaskName -TaskPath '\PgBackup\' -Description 'PgBackup: back up every PostgreSQL database, verify, apply retention' `
        -Action $action -Trigger $trigger -Settings $settings -Principal $principal -Force
}
