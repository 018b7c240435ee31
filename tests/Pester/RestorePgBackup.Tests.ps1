BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:ModulePath = Get-PgBackupModulePath
    Import-Module $script:ModulePath -Force
    $script:Cluster = Start-TestCluster
    $script:Repository = New-TestFolder -Prefix 'pgbackup-restore'
    $script:Cluster.CreateNorthwind('nw_src')
    $script:Backup = New-PgBackup -ConnectionString $script:Cluster.ConnectionUri('nw_src') -Repository $script:Repository
    $script:Server = $script:Cluster.ConnectionUri('postgres')

    function Get-Databases { @($script:Cluster.ListDatabasesAsync().GetAwaiter().GetResult()) }
    function Get-RowCounts([string] $Database) {
        ($script:Cluster.RowCountsAsync($Database).GetAwaiter().GetResult().GetEnumerator() | ForEach-Object { "$($_.Key)=$($_.Value)" }) -join ';'
    }
    function New-OtherData([string] $Database) {
        $script:Cluster.CreateDatabase($Database)
        $null = $script:Cluster.Psql($Database, "CREATE TABLE marker (note text PRIMARY KEY); INSERT INTO marker VALUES ('before');")
    }
}

AfterAll {
    if ($script:Cluster) { $script:Cluster.Dispose() }
    if ($script:Repository) { Remove-Item $script:Repository -Recurse -Force -ErrorAction SilentlyContinue }
}

Describe 'Restore-PgBackup' {
    It 'has exactly the documented parameters, ConfirmImpact High and a typed output' {
        $command = Get-Command Restore-PgBackup
        $common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
        ($command.Parameters.Keys | Where-Object { $_ -notin $common } | Sort-Object) -join ',' |
            Should -Be 'ConnectionString,Credential,DecryptionKey,DecryptionKeyPassphrase,DropPrevious,EncryptionPassphrase,Force,InputObject,Jobs,LiteralPath,LogPath,NoOwner,Path,Port,S3Endpoint,S3Region,Server,TargetDatabase,TrustedSigningKey'
        ($command.ParameterSets.Name | Sort-Object) -join ',' | Should -Be 'InputObject,LiteralPath,Path'
        $command.DefaultParameterSet | Should -Be 'InputObject'
        $attribute = $command.ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0]
        $attribute.SupportsShouldProcess | Should -BeTrue
        $attribute.ConfirmImpact | Should -Be ([System.Management.Automation.ConfirmImpact]::High)
        $command.OutputType.Name | Should -Be 'PgBackup.RestoreResult'
        $command.Parameters['InputObject'].ParameterType.FullName | Should -Be 'PgBackup.BackupInfo'
        $command.Parameters['InputObject'].Attributes.Where({ $_ -is [Parameter] }).ValueFromPipeline | Should -BeTrue
        # -Path: a backup, positional, wildcards; -LiteralPath: as written, bound from piped files and objects.
        $command.Parameters['Path'].ParameterSets['Path'].Position | Should -Be 0
        $command.Parameters['Path'].Attributes.Where({ $_ -is [SupportsWildcards] }) | Should -Not -BeNullOrEmpty
        $command.Parameters['LiteralPath'].Aliases -join ',' | Should -Be 'LP,ManifestLocation,FullName'
        $command.Parameters['LiteralPath'].ParameterSets['LiteralPath'].ValueFromPipelineByPropertyName | Should -BeTrue
        $command.Parameters['Server'].Aliases | Should -Contain 'Host'
        $command.Parameters['Jobs'].ParameterType | Should -Be ([int])
    }

    It 'restores the latest backup into a new database in one pipeline' {
        $result = Get-PgBackupInfo -Repository $script:Repository -Latest |
            Restore-PgBackup -TargetDatabase 'nw_pipeline' -ConnectionString $script:Server -Force

        $result.PSObject.TypeNames[0] | Should -Be 'PgBackup.RestoreResult'
        $result.TargetDatabase | Should -Be 'nw_pipeline'
        $result.Replaced | Should -BeFalse
        $result.PreviousDatabase | Should -BeNullOrEmpty
        $result.Backup.Id | Should -Be $script:Backup.Id
        Get-RowCounts 'nw_pipeline' | Should -Be (Get-RowCounts 'nw_src')
        (Get-RowCounts 'nw_src').Split(';').Count | Should -Be 14
    }

    It 'replaces an existing database with -Force and keeps the previous one under its _pre_restore_ name' {
        New-OtherData 'nw_live'

        $result = Restore-PgBackup -Path $script:Backup.ManifestLocation -TargetDatabase 'nw_live' -ConnectionString $script:Server -Force

        $result.Replaced | Should -BeTrue
        $result.PreviousDatabase | Should -Match '^nw_live_pre_restore_\d{14}$'
        Get-RowCounts 'nw_live' | Should -Be (Get-RowCounts 'nw_src')
        $script:Cluster.Psql($result.PreviousDatabase, 'SELECT note FROM marker;') | Should -Be 'before'
        Get-Databases | Where-Object { $_ -like '*_restoring_*' } | Should -BeNullOrEmpty
    }

    It 'creates and replaces a database with a hostile name' {
        $name = "it's ""quoted"" ünï 日本 🐘"
        $created = $script:Backup | Restore-PgBackup -TargetDatabase $name -ConnectionString $script:Server -NoOwner
        $replaced = $script:Backup | Restore-PgBackup -TargetDatabase $name -ConnectionString $script:Server -Force -DropPrevious

        $created.Replaced | Should -BeFalse
        $replaced.Replaced | Should -BeTrue
        $replaced.PreviousDatabase | Should -BeNullOrEmpty
        Get-Databases | Should -Contain $name
        Get-RowCounts $name | Should -Be (Get-RowCounts 'nw_src')
        Get-Databases | Where-Object { $_ -like '*_pre_restore_*' -and $_ -like 'it*' } | Should -BeNullOrEmpty
    }

    It '-WhatIf changes nothing and names the staging and _pre_restore_ databases it would use' {
        New-OtherData 'nw_whatif'
        $before = Get-Databases
        $result = Invoke-FreshPwsh -Script @"
Import-Module '$script:ModulePath'
Restore-PgBackup -Path '$($script:Backup.ManifestLocation)' -TargetDatabase 'nw_whatif' -ConnectionString '$script:Server' -WhatIf
Restore-PgBackup -Path '$($script:Backup.ManifestLocation)' -TargetDatabase 'nw_whatif_new' -ConnectionString '$script:Server' -WhatIf
'done'
"@
        $text = $result.Output -join "`n"
        $result.ExitCode | Should -Be 0 -Because $text
        $result.Output[-1] | Should -Be 'done'
        $text | Should -Match 'What if: .*Replace database "nw_whatif" on 127\.0\.0\.1:\d+ with backup '
        $text | Should -Match 'staging database "nw_whatif_restoring_[0-9a-f]{8}"'
        $text | Should -Match 'rename it to "nw_whatif_pre_restore_\d{14}"'
        $text | Should -Match 'What if: .*Create database "nw_whatif_new" on 127\.0\.0\.1:\d+ from backup '
        Get-Databases | Should -Be $before
        $script:Cluster.Psql('nw_whatif', 'SELECT note FROM marker;') | Should -Be 'before'
    }

    It 'refuses to replace without -Force in a non-interactive session, without prompting or changing anything' {
        New-OtherData 'nw_ci'
        $before = Get-Databases
        $result = Invoke-FreshPwsh -Script @"
`$env:CI = 'true'
Import-Module '$script:ModulePath'
try {
    Restore-PgBackup -Path '$($script:Backup.ManifestLocation)' -TargetDatabase 'nw_ci' -ConnectionString '$script:Server' -ErrorAction Stop
    'no error'
}
catch { "FQID=`$(`$_.FullyQualifiedErrorId)"; "CATEGORY=`$(`$_.CategoryInfo.Category)"; "MESSAGE=`$(`$_.Exception.Message)" }
"@
        $text = $result.Output -join "`n"
        $result.Output | Should -Contain 'FQID=ReplaceNotConfirmed,PgBackup.Commands.RestorePgBackupCommand' -Because $text
        $result.Output | Should -Contain 'CATEGORY=InvalidOperation'
        $text | Should -Match '-Force'
        Get-Databases | Should -Be $before
        $script:Cluster.Psql('nw_ci', 'SELECT note FROM marker;') | Should -Be 'before'
    }

    It 'writes a non-terminating BackupCorrupt error for a backup that fails its checksum and touches nothing' {
        $repository = New-TestFolder -Prefix 'pgbackup-corrupt'
        try {
            $backup = New-PgBackup -ConnectionString $script:Cluster.ConnectionUri('nw_src') -Repository $repository
            $bytes = [IO.File]::ReadAllBytes($backup.Location)
            $bytes[$bytes.Length - 5] = $bytes[$bytes.Length - 5] -bxor 0xFF
            [IO.File]::WriteAllBytes($backup.Location, $bytes)
            $before = Get-Databases

            $result = $backup | Restore-PgBackup -TargetDatabase 'nw_corrupt' -ConnectionString $script:Server -ErrorVariable failures -ErrorAction SilentlyContinue

            $result | Should -BeNullOrEmpty
            $failures.Count | Should -Be 1
            $failures[0].FullyQualifiedErrorId | Should -Be 'BackupCorrupt,PgBackup.Commands.RestorePgBackupCommand'
            $failures[0].CategoryInfo.Category | Should -Be 'InvalidData'
            Get-Databases | Should -Be $before
        }
        finally { Remove-Item $repository -Recurse -Force -ErrorAction SilentlyContinue }
    }

    It 'refuses a target name PostgreSQL would shorten with InvalidRestoreRequest' {
        $script:Backup | Restore-PgBackup -TargetDatabase ('x' * 64) -ConnectionString $script:Server -ErrorVariable failures -ErrorAction SilentlyContinue
        $failures[0].FullyQualifiedErrorId | Should -Be 'InvalidRestoreRequest,PgBackup.Commands.RestorePgBackupCommand'
    }
}
