#Requires -Version 7.4
<#
.SYNOPSIS
Writes PgBackup's per-database summary as Prometheus metrics for node_exporter's textfile collector.

.DESCRIPTION
One pipeline from Get-PgBackupInfo -Summary to a .prom file in the collector's folder (node_exporter
--collector.textfile.directory). The file is written next to its final name and renamed over it, so node_exporter
never reads half a file. Alert on time() - pgbackup_last_success_timestamp_seconds > 26 * 3600, for example.

.EXAMPLE
pwsh -NoProfile -NonInteractive -File ./Export-PgBackupMetrics.ps1 -Repository /var/backups/pg -OutFile /var/lib/node_exporter/textfile_collector/pgbackup.prom
#>
[CmdletBinding()]
param(
    # Default $env:PGBACKUP_REPOSITORY, else ./backups.
    [string] $Repository,
    [Parameter(Mandatory)] [string] $OutFile
)

$ErrorActionPreference = 'Stop'
Import-Module PgBackup
$repositoryOption = $Repository ? @{ Repository = $Repository } : @{}
# Label values escaped as the text format requires: backslash, double quote and line feed.
function Format-Label([string] $Value) { $Value.Replace('\', '\\').Replace('"', '\"').Replace("`n", '\n') }
function Format-Seconds($Time) { $Time ? ([DateTimeOffset]$Time.ToUniversalTime()).ToUnixTimeSeconds() : 0 }

$metrics = [ordered]@{
    pgbackup_last_success_timestamp_seconds = @('gauge', 'Unix time the newest Succeeded backup of the database started (0: none).', { Format-Seconds $_.LastSucceededAt })
    pgbackup_newest_backup_timestamp_seconds = @('gauge', 'Unix time the newest backup attempt of the database started, whatever its status.', { Format-Seconds $_.Newest })
    pgbackup_backups = @('gauge', 'Backups of the database in the repository.', { $_.Count })
    pgbackup_failed_backups = @('gauge', 'Failed backup attempts of the database recorded in the repository.', { $_.FailedCount })
    pgbackup_backup_size_bytes = @('gauge', 'Bytes stored for the database in the repository.', { $_.TotalSizeBytes })
    pgbackup_average_duration_seconds = @('gauge', 'Average duration of the database''s backups.', { $_.AverageDuration ? $_.AverageDuration.TotalSeconds : 0 })
}
$summaries = @(Get-PgBackupInfo -Summary @repositoryOption)
$lines = foreach ($name in $metrics.Keys) {
    $type, $help, $value = $metrics[$name]
    "# HELP $name $help"
    "# TYPE $name $type"
    foreach ($summary in $summaries) {
        '{0}{{database="{1}"}} {2}' -f $name, (Format-Label $summary.Database), [string]::Format([cultureinfo]::InvariantCulture, '{0}', ($summary | ForEach-Object $value))
    }
}

$temporary = "$OutFile.$PID.tmp"
[IO.File]::WriteAllText($temporary, ($lines -join "`n") + "`n")
Move-Item -LiteralPath $temporary -Destination $OutFile -Force
