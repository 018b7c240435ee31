<#
.SYNOPSIS
    The guided tour: a throwaway PostgreSQL with the Northwind sample, backed up, tested, damaged,
    restored, and the repository inspected — every cmdlet once, on a fresh machine.
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

function Show-Step([string] $Command) { Write-Host "`n> $Command" -ForegroundColor Yellow }

Write-Host 'Starting a throwaway PostgreSQL cluster...'
$cluster = [PgBackup.TestSupport.PostgresCluster]::Start($null)
try {
    Write-Host "PostgreSQL is listening on $($cluster.Host):$($cluster.Port); loading the Northwind sample into database 'northwind'..."
    $cluster.CreateNorthwind('northwind')
    $server = "postgresql://postgres@$($cluster.Host):$($cluster.Port)/postgres"
    $orders = { [int]$cluster.Psql('northwind', 'SELECT count(*) FROM orders') }

    Show-Step "New-PgBackup -Database northwind -ConnectionString $server -Repository $Repository -RowCounts -Tag @{ purpose = 'demo' }"
    $backup = New-PgBackup -Database northwind -ConnectionString $server -Repository $Repository -RowCounts -Environment demo -Tag @{ purpose = 'demo' }
    $backup | Format-List Id, Database, Server, ServerVersion, Status, SizeBytes, Sha256, Duration, Location | Out-Host
    $stored = (Get-FileHash -Algorithm SHA256 -Path $backup.Location).Hash.ToLowerInvariant()
    if ($stored -ne $backup.Sha256) { throw "The stored artifact's SHA-256 ($stored) differs from the manifest's ($($backup.Sha256))." }

    Show-Step "Get-PgBackupInfo -Repository $Repository"
    Get-PgBackupInfo -Repository $Repository | Format-Table | Out-Host

    Show-Step '$backup | Test-PgBackup -Level Restore   # restores into a throwaway database, compares tables and row counts, drops it'
    $test = $backup | Test-PgBackup -Level Restore -ConnectionString $server
    $test.Checks | Format-Table Name, Passed, Detail -Wrap | Out-Host
    if (-not $test.Passed) { throw 'The backup did not pass its restore test.' }

    Write-Host "`nAn accident: DELETE FROM order_details; DELETE FROM orders  (orders: $(& $orders))"
    $null = $cluster.Psql('northwind', 'DELETE FROM order_details; DELETE FROM orders;')
    Write-Host "orders now: $(& $orders)"

    Show-Step 'Get-PgBackupInfo -Latest -Database northwind | Restore-PgBackup -Force   # staging restore, then an atomic swap'
    $restore = Get-PgBackupInfo -Repository $Repository -Database northwind -Latest | Restore-PgBackup -ConnectionString $server -Force
    $restore | Format-List TargetDatabase, Replaced, PreviousDatabase, Duration | Out-Host
    Write-Host "orders after the restore: $(& $orders); the damaged database is kept as $($restore.PreviousDatabase)"
    if ((& $orders) -ne 830) { throw 'The restore did not bring the orders back.' }

    Show-Step "'northwind', 'postgres' | New-PgBackup -ConnectionString $server -Repository $Repository   # the nightly job, say"
    'northwind', 'postgres' | New-PgBackup -ConnectionString $server -Repository $Repository | Format-Table | Out-Host

    Show-Step "Remove-PgBackupExpired -Repository $Repository -KeepLast 1 -WhatIf   # the newest good backup of each database always stays"
    Remove-PgBackupExpired -Repository $Repository -KeepLast 1 -WhatIf -InformationAction Continue

    Show-Step "Get-PgBackupInfo -Repository $Repository -Summary"
    Get-PgBackupInfo -Repository $Repository -Summary | Format-List | Out-Host

    Write-Host "Demo finished: backups are in $Repository" -ForegroundColor Green
}
finally {
    $cluster.Dispose()
    Write-Host 'The throwaway cluster is stopped and removed.'
}
