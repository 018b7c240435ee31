# PgBackup keeps PgBackup.Core and its dependencies (Npgsql, AWSSDK, Azure SDK, …) in its own AssemblyLoadContext
# (src/PgBackup/Loading), so a session where another module already loaded other versions still works.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:ModulePath = Get-PgBackupModulePath
    $script:ModuleFolder = Split-Path $script:ModulePath
}

Describe 'Dependency isolation' {
    It 'stages only the manifest, the format views and the cmdlets at the module root; Core and its dependencies under dependencies/' {
        Get-ChildItem $script:ModuleFolder -File | Where-Object Extension -ne '.pdb' | Sort-Object Name | ForEach-Object Name |
            Should -Be @('PgBackup.dll', 'PgBackup.Format.ps1xml', 'PgBackup.psd1')
        Get-ChildItem $script:ModuleFolder -Directory | ForEach-Object Name | Should -Be @('dependencies')
        $dependencies = Get-ChildItem (Join-Path $script:ModuleFolder 'dependencies') -File | ForEach-Object Name
        $dependencies | Should -Contain 'PgBackup.Core.dll'
        $dependencies | Should -Contain 'Npgsql.dll'
        $dependencies | Should -Contain 'AWSSDK.Core.dll'
        foreach ($azure in 'Azure.Core.dll', 'Azure.Storage.Blobs.dll', 'Azure.Storage.Common.dll', 'Azure.Identity.dll') { $dependencies | Should -Contain $azure }
        (Import-PowerShellDataFile $script:ModulePath).RootModule | Should -Be 'PgBackup.dll'
    }

    Context 'in a session where another module already loaded Npgsql 8.0.5' {
        BeforeAll {
            $script:Cluster = Start-TestCluster
            $script:Database = 'isolation_northwind'
            $script:Cluster.CreateNorthwind($script:Database)
            $script:Repository = New-TestFolder
            $script:OtherNpgsql = Get-NuGetPackagePath 'npgsql/8.0.5/lib/net8.0/Npgsql.dll'
        }

        AfterAll {
            if ($script:Cluster) { $script:Cluster.Dispose() }
            if ($script:Repository) { Remove-Item $script:Repository -Recurse -Force -ErrorAction SilentlyContinue }
        }

        It 'backs up, tests, restores and expires through the pipeline, on its own Npgsql 10 from dependencies/' {
            $connection = $script:Cluster.ConnectionUri()
            $result = Invoke-FreshPwsh -Script @"
`$ErrorActionPreference = 'Stop'
Add-Type -Path '$script:OtherNpgsql'
# The other module's Npgsql really works in this session (it needs its own dependencies to build a connection string).
`$null = [Npgsql.NpgsqlConnectionStringBuilder]::new('Host=other-module')
Import-Module '$script:ModulePath'

`$backup = New-PgBackup -Database '$script:Database' -Repository '$script:Repository' -ConnectionString '$connection'
`$tested = Get-PgBackupInfo -Repository '$script:Repository' | Test-PgBackup -Level Structure -ConnectionString '$connection'
`$restored = Get-PgBackupInfo -Repository '$script:Repository' | Restore-PgBackup -TargetDatabase 'isolation_restored' -ConnectionString '$connection' -Confirm:`$false
`$null = New-PgBackup -Database '$script:Database' -Repository '$script:Repository' -ConnectionString '$connection'
`$expired = @(Get-PgBackupInfo -Repository '$script:Repository' | Remove-PgBackupExpired -KeepLast 1 -PassThru -Confirm:`$false)
`$view = Get-PgBackupInfo -Repository '$script:Repository' | Format-Table | Out-String

"backupStatus=`$(`$backup.Status)"
"testPassed=`$(`$tested.Passed)"
"testFailures=`$(`$tested.DescribeFailures())"
"restoredType=`$(`$restored.GetType().FullName)"
"expired=`$(`$expired.Id -join ',')"
"first=`$(`$backup.Id)"
"literalIsOutputType=`$((`$backup -is [PgBackup.BackupInfo]) -and ([PgBackup.BackupInfo] -eq (Get-Command New-PgBackup).OutputType[0].Type))"
"viewHeader=`$(`$view -match 'StartedAt \(UTC\)')"
`$alc = [System.Runtime.Loader.AssemblyLoadContext]
"coreContext=`$(`$alc::GetLoadContext([PgBackup.BackupInfo].Assembly).Name)"
foreach (`$npgsql in [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { `$_.GetName().Name -eq 'Npgsql' }) {
    "npgsql=`$(`$alc::GetLoadContext(`$npgsql).Name)|`$(`$npgsql.GetName().Version)|`$(`$npgsql.Location)"
}
"sessionNpgsql=`$([Npgsql.NpgsqlConnection].Assembly.GetName().Version)"
"@
            $output = $result.Output -join "`n"
            $result.ExitCode | Should -Be 0 -Because $output
            $values = @{}
            $npgsqls = foreach ($line in $result.Output) {
                if ($line -match '^npgsql=(.*)$') { $Matches[1] }
                elseif ($line -match '^(\w+)=(.*)$') { $values[$Matches[1]] = $Matches[2] }
            }

            $values.backupStatus | Should -Be 'Succeeded' -Because $output
            $values.testPassed | Should -Be 'True' -Because $values.testFailures
            $values.restoredType | Should -Be 'PgBackup.RestoreResult'
            $values.expired | Should -Be $values.first -Because 'the older of two backups expires with -KeepLast 1'
            $values.literalIsOutputType | Should -Be 'True'
            $values.viewHeader | Should -Be 'True'
            $values.coreContext | Should -Be 'PgBackup'

            # Two Npgsql side by side: the session's 8.0.5 in the default context, the module's 10.x from dependencies/.
            $npgsqls.Count | Should -Be 2 -Because $output
            $default = $npgsqls | Where-Object { $_ -like 'Default|*' }
            $default | Should -Match '^Default\|8\.0\.5\.0\|'
            $module = $npgsqls | Where-Object { $_ -like 'PgBackup|*' }
            $module | Should -Match '^PgBackup\|10\.'
            ($module -split '\|')[2] | Should -Be (Join-Path $script:ModuleFolder 'dependencies/Npgsql.dll')
            $values.sessionNpgsql | Should -Be '8.0.5.0'
        }
    }
}
