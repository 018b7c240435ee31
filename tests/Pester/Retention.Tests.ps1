BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:ModulePath = Get-PgBackupModulePath
    Import-Module $script:ModulePath -Force

    function New-SyntheticBackup {
        # A committed backup (or Failed attempt) with a chosen start time, written the way New-PgBackup commits one:
        # artifact first, then the manifest. Returns its id.
        param(
            [Parameter(Mandatory)] [string] $Repository,
            [Parameter(Mandatory)] [datetime] $StartedAt,
            [string] $Database = 'shop',
            [string] $Hex = '0000',
            [PgBackup.BackupStatus] $Status = 'Succeeded'
        )
        $objects = New-TestBackupObjects -Database $Database -StartedAt $StartedAt -Hex $Hex -Status $Status
        $objects | Write-TestBackupObjects -Repository $Repository
        $objects.Id
    }

    function New-DailyBackups {
        # One Succeeded backup a day at 01:00 UTC, ending yesterday; returns their ids, newest first.
        param([string] $Repository, [int] $Days, [string] $Database = 'shop')
        $today = [datetime]::UtcNow.Date
        @(1..$Days | ForEach-Object { New-SyntheticBackup -Repository $Repository -Database $Database -StartedAt $today.AddDays(-$_).AddHours(1) -Hex ('{0:x4}' -f $_) })
    }

    function Get-RepositoryFiles {
        param([string] $Repository)
        @(Get-ChildItem $Repository -Recurse -File | ForEach-Object { [IO.Path]::GetRelativePath($Repository, $_.FullName) } | Sort-Object)
    }
}

Describe 'Remove-PgBackupExpired (Retention) parameter surface' {
    It 'has exactly the documented parameters, sets, ConfirmImpact and output type' {
        $command = Get-Command Remove-PgBackupExpired
        $common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
        ($command.Parameters.Keys | Where-Object { $_ -notin $common } | Sort-Object) -join ',' |
            Should -Be 'Database,IncludeIncomplete,InputObject,KeepDaily,KeepLast,KeepMonthly,KeepWeekly,LogPath,PassThru,Repository,RetentionDays,S3Endpoint,S3Region,Utc'
        ($command.ParameterSets.Name | Sort-Object) -join ',' | Should -Be 'InputObject,Repository'
        $command.DefaultParameterSet | Should -Be 'Repository'
        $command.OutputType.Name | Should -Be 'PgBackup.BackupInfo'
        $command.Parameters.Repository.Aliases | Sort-Object | Should -Be @('Destination', 'Path')
        $command.Parameters.KeepLast.ParameterType | Should -Be ([Nullable[int]])
        $command.Parameters.InputObject.ParameterType | Should -Be ([PgBackup.BackupInfo[]])

        $metadata = [System.Management.Automation.CommandMetadata]::new($command)
        $metadata.SupportsShouldProcess | Should -BeTrue
        $metadata.ConfirmImpact | Should -Be 'Medium'

        $inputObject = $command.Parameters.InputObject.ParameterSets['InputObject']
        $inputObject.IsMandatory | Should -BeTrue
        $inputObject.ValueFromPipeline | Should -BeTrue
        $command.Parameters.IncludeIncomplete.ParameterSets.Keys | Should -Be @('Repository')
        $command.Parameters.Database.ParameterSets.Keys | Should -Be @('Repository')
    }

    It 'Get-PgBackupInfo has -Since, -Status and -Summary with a BackupSummary output for -Summary' {
        $command = Get-Command Get-PgBackupInfo
        $command.Parameters.Since.ParameterType | Should -Be ([Nullable[datetime]])
        $command.Parameters.Status.ParameterType | Should -Be ([Nullable[PgBackup.BackupStatus]])
        ($command.ParameterSets.Name | Sort-Object) -join ',' | Should -Be 'Path,Repository,Summary'
        $command.Parameters.Summary.ParameterSets['Summary'].IsMandatory | Should -BeTrue
        ($command.OutputType.Name | Sort-Object) -join ',' | Should -Be 'PgBackup.BackupInfo,PgBackup.BackupSummary'
    }
}

Describe 'Remove-PgBackupExpired (Retention) on a local repository' {
    BeforeEach {
        $script:repo = New-TestFolder -Prefix 'pgbackup-retention'
    }
    AfterEach {
        Remove-Item $script:repo -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'refuses a policy without a rule with InvalidRetentionPolicy and touches nothing' {
        $null = New-DailyBackups -Repository $repo -Days 3
        $before = Get-RepositoryFiles $repo
        { Remove-PgBackupExpired -Repository $repo -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidRetentionPolicy,PgBackup.Commands.RemovePgBackupExpiredCommand'
        $err = $null
        try { Remove-PgBackupExpired -Repository $repo } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeExactly 'InvalidRetentionPolicy,PgBackup.Commands.RemovePgBackupExpiredCommand'
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        Get-RepositoryFiles $repo | Should -Be $before
    }

    It 'refuses a negative number with InvalidRetentionPolicy, also for piped input' {
        $err = $null
        try { Remove-PgBackupExpired -Repository $repo -KeepLast 3 -KeepDaily -1 } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeExactly 'InvalidRetentionPolicy,PgBackup.Commands.RemovePgBackupExpiredCommand'
        $err.Exception.Message | Should -BeLike 'KeepDaily must be zero or more*'

        $null = New-DailyBackups -Repository $repo -Days 3
        $err = $null
        try { Get-PgBackupInfo -Repository $repo | Remove-PgBackupExpired -RetentionDays -5 } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -BeExactly 'InvalidRetentionPolicy,PgBackup.Commands.RemovePgBackupExpiredCommand'
        (Get-PgBackupInfo -Repository $repo).Count | Should -Be 3
    }

    It '-WhatIf lists exactly the expired backups, one line each, and removes nothing' {
        $ids = New-DailyBackups -Repository $repo -Days 10
        $before = Get-RepositoryFiles $repo
        $result = Invoke-FreshPwsh -Script @"
`$ErrorActionPreference = 'Stop'
Import-Module '$script:ModulePath'
Remove-PgBackupExpired -Repository '$repo' -KeepLast 3 -WhatIf
"@
        $result.ExitCode | Should -Be 0 -Because ($result.Output -join "`n")
        $whatIf = @($result.Output | Where-Object { $_ -like 'What if:*' })
        $whatIf.Count | Should -Be 7
        $listed = $whatIf | ForEach-Object { if ($_ -match 'on target "(\S+) ') { $Matches[1] } }
        ($listed | Sort-Object) -join ',' | Should -Be (($ids | Select-Object -Skip 3 | Sort-Object) -join ',')
        $whatIf | ForEach-Object { $_ | Should -BeLike '*Remove expired backup (no rule of "KeepLast 3" keeps it)*' }
        Get-RepositoryFiles $repo | Should -Be $before
    }

    It 'keeps the 3 newest with KeepLast 3, reports count and bytes to the information stream, and -PassThru returns what went' {
        $ids = New-DailyBackups -Repository $repo -Days 6
        $expired = Get-PgBackupInfo -Repository $repo | Select-Object -Skip 3
        $bytes = ($expired | Measure-Object SizeBytes -Sum).Sum

        $removed = Remove-PgBackupExpired -Repository $repo -KeepLast 3 -PassThru -InformationVariable info

        $removed | Should -HaveCount 3
        $removed[0].GetType().FullName | Should -Be 'PgBackup.BackupInfo'
        ($removed.Id | Sort-Object) -join ',' | Should -Be (($ids[3..5] | Sort-Object) -join ',')
        (Get-PgBackupInfo -Repository $repo).Id -join ',' | Should -Be ($ids[0..2] -join ',')
        $info | Should -HaveCount 1
        "$($info[0].MessageData)" | Should -BeLike "Removed 3 expired backup(s) from $repo, freeing $bytes bytes*kept 3.*"
        $info[0].Tags | Should -Contain 'Retention'
        @(Get-ChildItem $repo -Recurse -File).Count | Should -Be 6 -Because 'the 3 survivors keep artifact and manifest, the others lose both'
    }

    It 'without -PassThru writes nothing to the pipeline but still reports to the information stream' {
        $null = New-DailyBackups -Repository $repo -Days 4
        $output = Remove-PgBackupExpired -Repository $repo -KeepLast 1 -InformationVariable info
        $output | Should -BeNullOrEmpty
        "$($info[0].MessageData)" | Should -BeLike 'Removed 3 expired backup(s)*'
    }

    It 'works on piped Get-PgBackupInfo output: Get-PgBackupInfo -Database shop | Remove-PgBackupExpired -KeepLast 3' {
        $shop = New-DailyBackups -Repository $repo -Days 8 -Database 'shop'
        $crm = New-DailyBackups -Repository $repo -Days 5 -Database 'crm'

        $removed = Get-PgBackupInfo -Repository $repo -Database shop | Remove-PgBackupExpired -KeepLast 3 -PassThru

        ($removed.Id | Sort-Object) -join ',' | Should -Be (($shop[3..7] | Sort-Object) -join ',')
        (Get-PgBackupInfo -Repository $repo -Database shop).Id -join ',' | Should -Be ($shop[0..2] -join ',')
        (Get-PgBackupInfo -Repository $repo -Database crm).Id -join ',' | Should -Be ($crm -join ',')
    }

    It 'an empty pipeline never falls back to the default repository' {
        $default = Join-Path $repo 'backups'
        $null = New-Item -ItemType Directory -Path $default
        $ids = New-DailyBackups -Repository $default -Days 3
        $other = New-Item -ItemType Directory -Path (Join-Path $repo 'other')
        Push-Location $repo
        try {
            Get-PgBackupInfo -Repository $other -Database nomatch | Remove-PgBackupExpired -KeepLast 0 -InformationVariable info
        }
        finally { Pop-Location }
        (Get-PgBackupInfo -Repository $default).Id -join ',' | Should -Be ($ids -join ',')
        "$($info[0].MessageData)" | Should -BeLike 'No backups were piped in*'
    }

    It 'buckets days in the local time zone, or in UTC with -Utc' {
        # 02:00Z on Mar 2 is still Mar 1 in New York (EST, UTC-5): there it shares a day with 12:00Z on Mar 1.
        foreach ($name in 'local', 'utc') {
            $folder = Join-Path $repo $name
            $null = New-Item -ItemType Directory -Path $folder
            $null = New-SyntheticBackup -Repository $folder -StartedAt ([datetime]'2026-03-02T02:00:00') -Hex '000a'
            $null = New-SyntheticBackup -Repository $folder -StartedAt ([datetime]'2026-03-01T12:00:00') -Hex '000b'
            $null = New-SyntheticBackup -Repository $folder -StartedAt ([datetime]'2026-02-28T12:00:00') -Hex '000c'
        }
        $previousTz = $env:TZ
        $env:TZ = 'America/New_York'
        try {
            $result = Invoke-FreshPwsh -Script @"
`$ErrorActionPreference = 'Stop'
Import-Module '$script:ModulePath'
[TimeZoneInfo]::Local.Id
(Remove-PgBackupExpired -Repository '$(Join-Path $repo 'local')' -KeepDaily 2 -PassThru).Id
(Remove-PgBackupExpired -Repository '$(Join-Path $repo 'utc')' -KeepDaily 2 -Utc -PassThru).Id
"@
        }
        finally { $env:TZ = $previousTz }
        $result.ExitCode | Should -Be 0 -Because ($result.Output -join "`n")
        $result.Output | Should -Be @('America/New_York', 'shop_20260301T120000Z_000b', 'shop_20260228T120000Z_000c')
    }

    It 'always keeps the newest succeeded backup when everything is older than the cut-off' {
        $old = [datetime]::UtcNow.AddDays(-100)
        $null = New-SyntheticBackup -Repository $repo -StartedAt $old -Hex '0001'
        $newest = New-SyntheticBackup -Repository $repo -StartedAt $old.AddDays(1) -Hex '0002'
        $null = New-SyntheticBackup -Repository $repo -StartedAt $old.AddDays(2) -Hex '0003' -Status Failed

        Remove-PgBackupExpired -Repository $repo -RetentionDays 30

        (Get-PgBackupInfo -Repository $repo).Id | Should -Be @($newest)
    }

    It '-IncludeIncomplete removes only leftovers without a manifest that are more than a day old' {
        $null = New-DailyBackups -Repository $repo -Days 2
        $day = New-Item -ItemType Directory -Path (Join-Path $repo '2026/01/05') -Force
        $oldPartial = Join-Path $day 'shop_20260105T010000Z_0abc.dump.partial'
        $freshPartial = Join-Path $day 'shop_20260105T020000Z_0abd.dump.partial'
        $notOurs = Join-Path $day 'notes.txt'
        foreach ($file in $oldPartial, $freshPartial, $notOurs) { Set-Content -Path $file -Value ('y' * 99) -NoNewline }
        (Get-Item $oldPartial).LastWriteTimeUtc = [datetime]::UtcNow.AddHours(-25)
        (Get-Item $notOurs).LastWriteTimeUtc = [datetime]::UtcNow.AddDays(-30)
        (Get-Item $freshPartial).LastWriteTimeUtc = [datetime]::UtcNow.AddHours(-23)

        Remove-PgBackupExpired -Repository $repo -KeepLast 10
        Test-Path $oldPartial | Should -BeTrue -Because 'without -IncludeIncomplete a leftover is never touched'

        Remove-PgBackupExpired -Repository $repo -KeepLast 10 -IncludeIncomplete -InformationVariable info

        Test-Path $oldPartial | Should -BeFalse
        Test-Path $freshPartial | Should -BeTrue
        Test-Path $notOurs | Should -BeTrue
        (Get-PgBackupInfo -Repository $repo) | Should -HaveCount 2
        "$($info[0].MessageData)" | Should -BeLike '*freeing 99 bytes*Removed 1 incomplete leftover(s).*'
    }
}

Describe 'Backup metrics (Retention issue): -Status, -Since and -Summary with a real failed New-PgBackup' {
    BeforeAll {
        $script:cluster = Start-TestCluster
        $script:cluster.CreateDatabase('shop')
        # A role that may connect but not read the table: pg_dump really fails on it.
        $null = $script:cluster.Psql('shop', 'CREATE TABLE secret (x int); CREATE ROLE reader LOGIN;')
        $script:repo = New-TestFolder -Prefix 'pgbackup-metrics'
        $script:connection = @{ Server = $cluster.Host; Port = $cluster.Port; Credential = (New-TestCredential) }
        $script:good = New-PgBackup @connection -Database shop -Repository $repo
        # Exists but takes no connections: the attempt passes the pre-flight check and fails for real (a name the server
        # lacks would be a mistake that writes nothing).
        $null = $script:cluster.Psql('postgres', 'CREATE DATABASE no_such_db ALLOW_CONNECTIONS false;')
        $script:unknownDbErrors = @()
        New-PgBackup @connection -Database 'no_such_db' -Repository $repo -ErrorAction SilentlyContinue -ErrorVariable script:unknownDbErrors
        $script:deniedErrors = @()
        New-PgBackup -Server $cluster.Host -Port $cluster.Port -Credential (New-TestCredential -UserName reader) -Database shop -Repository $repo -ErrorAction SilentlyContinue -ErrorVariable script:deniedErrors
    }
    AfterAll {
        if ($script:cluster) { $script:cluster.Dispose() }
        Remove-Item $script:repo -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'New-PgBackup against a database that refuses connections fails with a non-terminating error and records a Failed manifest' {
        $unknownDbErrors | Should -HaveCount 1
        $unknownDbErrors[0].FullyQualifiedErrorId | Should -BeExactly 'ConnectionFailed,PgBackup.Commands.NewPgBackupCommand'
        $deniedErrors | Should -HaveCount 1
        $deniedErrors[0].FullyQualifiedErrorId | Should -BeExactly 'PgDumpFailed,PgBackup.Commands.NewPgBackupCommand'
        @(Get-PgBackupInfo -Repository $repo -Status Failed).Database | Sort-Object | Should -Be @('no_such_db', 'shop')
        $failed = @(Get-PgBackupInfo -Repository $repo -Status Failed)
        $failed.Database | Should -Contain 'no_such_db'
        $failed | Where-Object Database -eq 'no_such_db' | ForEach-Object {
            $_.Status | Should -Be 'Failed'
            $_.Location | Should -BeNullOrEmpty
            $_.Error | Should -Not -BeNullOrEmpty
        }
        (Get-PgBackupInfo -Repository $repo -Status Succeeded).Id | Should -Be @($good.Id)
    }

    It '-Summary gives one PgBackup.BackupSummary per database with counts, rate, size and last success' {
        $summary = @(Get-PgBackupInfo -Repository $repo -Summary)
        $summary.Database -join ',' | Should -Be 'no_such_db,shop'
        $summary[0].GetType().FullName | Should -Be 'PgBackup.BackupSummary'

        $missing = $summary | Where-Object Database -eq 'no_such_db'
        $missing.Count | Should -Be 1
        $missing.FailedCount | Should -Be 1
        $missing.SuccessRate | Should -Be 0
        $missing.LastSucceededAt | Should -BeNullOrEmpty

        $shop = $summary | Where-Object Database -eq 'shop'
        $shop.Count | Should -Be 2
        $shop.SucceededCount | Should -Be 1
        $shop.FailedCount | Should -Be 1
        $shop.SuccessRate | Should -Be 0.5
        $shop.TotalSizeBytes | Should -Be $good.SizeBytes
        $shop.LastSucceededAt | Should -Be $good.StartedAt
        $shop.AverageDuration | Should -Be $good.Duration
        $shop.Repository | Should -Be $good.Repository

        $text = $summary | Format-Table | Out-String
        $text | Should -BeLike '*no_such_db*0.0*never*'
    }

    It '-Summary -Status Succeeded and -Since filter before summarizing' {
        @(Get-PgBackupInfo -Repository $repo -Summary -Status Succeeded).Database | Should -Be @('shop')
        @(Get-PgBackupInfo -Repository $repo -Since ([datetime]::Now.AddDays(1))) | Should -HaveCount 0
        @(Get-PgBackupInfo -Repository $repo -Since $good.StartedAt.ToLocalTime() -Status Succeeded).Id | Should -Be @($good.Id)
        @(Get-PgBackupInfo -Repository $repo -Since ([datetime]::Now.AddDays(1)) -Summary) | Should -HaveCount 0
    }

    It 'Failed attempts are expired by the same rules and never take the place of the good backup' {
        # The failed attempt is newer than the good backup; KeepLast 0 leaves only the safety rule.
        $removed = @(Remove-PgBackupExpired -Repository $repo -Database shop -KeepLast 0 -PassThru)
        $removed | Should -HaveCount 1
        $removed[0].Status | Should -Be 'Failed'
        $removed[0].Database | Should -Be 'shop'
        (Get-PgBackupInfo -Repository $repo -Database shop).Id | Should -Be @($good.Id)
        Test-Path $good.Location | Should -BeTrue
    }
}
