# A repository is untrusted input (issue 9): what the engine skips or refuses reaches the user as PowerShell warnings
# and errors with stable ids, through the cmdlets.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-PgBackupModulePath) -Force

    function New-SyntheticBackup {
        param([Parameter(Mandatory)] [string] $Repository, [Parameter(Mandatory)] [datetime] $StartedAt, [string] $Hex = '0000', [string] $Database = 'shop')
        $objects = New-TestBackupObjects -Database $Database -StartedAt $StartedAt -Hex $Hex
        $objects | Write-TestBackupObjects -Repository $Repository
        $objects
    }
}

Describe 'Repository trust (RepositoryTrust) through the cmdlets' {
    BeforeEach {
        $script:repo = New-TestFolder -Prefix 'pgbackup-trust'
        $today = [datetime]::UtcNow.Date
        $script:newest = New-SyntheticBackup -Repository $script:repo -StartedAt $today.AddDays(-1).AddHours(1) -Hex '0002'
        $script:older = New-SyntheticBackup -Repository $script:repo -StartedAt $today.AddDays(-2).AddHours(1) -Hex '0001'
    }
    AfterEach {
        Remove-Item $script:repo -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'Get-PgBackupInfo -Latest never answers with a backup dated in the future, and warns naming it' {
        $future = New-SyntheticBackup -Repository $script:repo -StartedAt ([datetime]::UtcNow.AddDays(30)) -Hex '0fff'

        $latest = Get-PgBackupInfo -Repository $script:repo -Database shop -Latest -WarningVariable warnings -WarningAction SilentlyContinue

        $latest.Id | Should -BeExactly $script:newest.Id
        ($warnings -join "`n") | Should -BeLike "*$($future.Id)*future*"
    }

    It 'Remove-PgBackupExpired -KeepLast 1 keeps the genuinely newest backup when another is dated in the future' {
        $future = New-SyntheticBackup -Repository $script:repo -StartedAt ([datetime]::UtcNow.AddDays(30)) -Hex '0fff'

        Remove-PgBackupExpired -Repository $script:repo -KeepLast 1 -Confirm:$false -WarningVariable warnings -WarningAction SilentlyContinue -InformationAction SilentlyContinue

        (Get-PgBackupInfo -Repository $script:repo -WarningAction SilentlyContinue).Id | Sort-Object | Should -Be (@($future.Id, $script:newest.Id) | Sort-Object)
        ($warnings -join "`n") | Should -BeLike "*$($future.Id)*future*"
    }

    It 'Get-PgBackupInfo skips a FIFO named like a manifest with a warning naming it and lists the rest' {
        $fifo = Join-Path ([IO.Path]::GetDirectoryName((Join-Path $script:repo $script:newest.ArtifactKey))) 'shop_20200101T000000Z_ffff.dump.manifest.json'
        & mkfifo $fifo
        $LASTEXITCODE | Should -Be 0

        $job = Start-ThreadJob { param($Module, $Repository) Import-Module $Module; Get-PgBackupInfo -Repository $Repository -WarningVariable w -WarningAction SilentlyContinue; $w } -ArgumentList (Get-PgBackupModulePath), $script:repo
        $output = $job | Wait-Job -Timeout 60 | Receive-Job
        $job.State | Should -Be 'Completed'
        $job | Remove-Job -Force

        @($output | Where-Object { $_ -is [PgBackup.BackupInfo] }).Count | Should -Be 2
        ($output | Where-Object { $_ -isnot [PgBackup.BackupInfo] }) -join "`n" | Should -BeLike "*$fifo*not a regular file*"
    }

    It 'refuses a retention period beyond the calendar with InvalidRetentionPolicy, not an overflow' {
        $err = $null
        try { Remove-PgBackupExpired -Repository $script:repo -RetentionDays 100000000 -Confirm:$false -ErrorAction Stop } catch { $err = $_ }

        $err.FullyQualifiedErrorId | Should -BeExactly 'InvalidRetentionPolicy,PgBackup.Commands.RemovePgBackupExpiredCommand'
        @(Get-PgBackupInfo -Repository $script:repo).Count | Should -Be 2
    }
}
