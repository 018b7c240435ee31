<#
.SYNOPSIS
    The guided tour: a throwaway PostgreSQL with the Northwind sample, backed up, tested, damaged,
    restored, and the repository inspected — every cmdlet once, on a fresh machine.
.DESCRIPTION
    Each command is printed exactly as it then runs (one string is both), so after the demo's own setup lines
    ($env:DATABASE_URL, $env:PGBACKUP_REPOSITORY) every "PS>" line can be pasted into a shell. Output goes through the module's default
    views. The checks that the demo told the truth (hash, restore test, orders back) run quietly between steps.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $TestSupportPath,
    [Parameter(Mandatory)] [string] $Repository
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Add-Type -Path $TestSupportPath
Import-Module $ModulePath -Force

# Prints a command (after an optional comment) and returns it as a script block made from that very text, to be
# dot-sourced here: what is shown is what runs, and variables it sets stay for the next steps.
function Step([string] $Command, [string] $Comment) {
    if ($Comment) { Write-Host "`n# $Comment" -ForegroundColor DarkGray }
    Write-Host "PS> $Command" -ForegroundColor Yellow
    [scriptblock]::Create($Command)
}

function Quote([string] $Text) { "'" + $Text.Replace("'", "''") + "'" }

Write-Host 'Starting a throwaway PostgreSQL cluster...'
$cluster = [PgBackup.TestSupport.PostgresCluster]::Start($null)
try {
    Write-Host "PostgreSQL is listening on $($cluster.Host):$($cluster.Port)."
    Write-Host "Loading the Northwind sample into database 'northwind'..."
    $cluster.CreateNorthwind('northwind')
    $orders = { [int]$cluster.Psql('northwind', 'SELECT count(*) FROM orders') }

    # The setup lines name the server and the repository the way a scheduled job would: through the environment.
    $savedEnvironment = @{ DATABASE_URL = $env:DATABASE_URL; PGBACKUP_REPOSITORY = $env:PGBACKUP_REPOSITORY }
    . (Step "`$env:DATABASE_URL = $(Quote "postgresql://postgres@$($cluster.Host):$($cluster.Port)/postgres")" 'Setup: the throwaway server, and a folder as the repository')
    . (Step "`$env:PGBACKUP_REPOSITORY = $(Quote $Repository)")

    . (Step '$backup = New-PgBackup -Database northwind -RowCounts -Tag @{ job = ''demo'' }' 'Back up, with row counts taken in the same snapshot')
    . (Step '$backup | Format-List') | Out-Host
    $stored = (Get-FileHash -Algorithm SHA256 -LiteralPath $backup.Location).Hash.ToLowerInvariant()
    if ($stored -ne $backup.Sha256) { throw "The stored artifact's SHA-256 ($stored) differs from the manifest's ($($backup.Sha256))." }

    . (Step 'Get-PgBackupInfo' 'What is in the repository?') | Out-Host

    . (Step '$test = $backup | Test-PgBackup -Level Restore' 'Restore into a throwaway database, compare tables and rows, drop it')
    . (Step '$test') | Out-Host
    if (-not $test.Passed) { throw 'The backup did not pass its restore test.' }

    Write-Host "`n# An accident, in psql: DELETE FROM order_details; DELETE FROM orders;" -ForegroundColor DarkGray
    Write-Host "# orders before: $(& $orders)" -ForegroundColor DarkGray
    $null = $cluster.Psql('northwind', 'DELETE FROM order_details; DELETE FROM orders;')
    Write-Host "# orders now: $(& $orders)" -ForegroundColor DarkGray

    . (Step '$latest = Get-PgBackupInfo -Database northwind -Latest' 'Repair: restore into a staging database, then swap the names')
    . (Step '$restore = $latest | Restore-PgBackup -Force')
    . (Step '$restore') | Out-Host
    Write-Host "# orders after the restore: $(& $orders)" -ForegroundColor DarkGray
    if ((& $orders) -ne 830) { throw 'The restore did not bring the orders back.' }

    . (Step '''northwind'', ''postgres'' | New-PgBackup' 'The nightly job, say') | Out-Host

    . (Step 'Test-PgBackup "$env:PGBACKUP_REPOSITORY/*/*/*/postgres_*.json" -Level Checksum' 'A backup by path: wildcards expand like Resolve-Path') | Out-Host

    . (Step 'Remove-PgBackupExpired -KeepLast 1 -WhatIf -InformationAction Continue' 'Retention: the newest good backup of each database always stays')

    . (Step 'Get-PgBackupInfo -Summary' 'Per database: count, success rate, size, last success') | Out-Host

    Write-Host "`nDemo finished: backups are in $Repository" -ForegroundColor Green
}
finally {
    if (Test-Path Variable:savedEnvironment) {
        foreach ($entry in $savedEnvironment.GetEnumerator()) { Set-Item "Env:$($entry.Key)" -Value $entry.Value }
    }
    $cluster.Dispose()
    Write-Host 'The throwaway cluster is stopped and removed.'
}
