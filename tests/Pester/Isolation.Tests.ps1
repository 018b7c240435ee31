# PgBackup keeps PgBackup.Core and its dependencies (Npgsql, AWSSDK, Azure SDK, …) in its own AssemblyLoadContext
# (src/PgBackup/Loading), so a session where another module already loaded other versions still works. The output
# types (PgBackup.Types.dll) live in the session's default context: one identity for cmdlets, views and scripts.

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:ModulePath = Get-PgBackupModulePath
    $script:ModuleFolder = Split-Path $script:ModulePath

    function ConvertFrom-Report([string[]] $Lines) {
        # "name=value" lines into a hashtable; repeated names collect into arrays.
        $values = @{}
        foreach ($line in $Lines) {
            if ($line -match '^(\w+)=(.*)$') { $values[$Matches[1]] = @($values[$Matches[1]]) + $Matches[2] | Where-Object { $null -ne $_ } }
        }
        $values
    }

    # The lines a session prints about where PgBackup's types and engine were loaded from.
    $script:ContextReport = @'
$alc = [System.Runtime.Loader.AssemblyLoadContext]
"typesContext=$($alc::GetLoadContext([PgBackup.BackupInfo].Assembly).Name)"
"typesLocation=$([PgBackup.BackupInfo].Assembly.Location)"
$core = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'PgBackup.Core' }
"coreContext=$(@($core | ForEach-Object { $alc::GetLoadContext($_).Name }) -join ',')"
"coreLocation=$(@($core.Location) -join ',')"
'@
}

Describe 'Dependency isolation' {
    It 'stages the manifest, the format views, the cmdlets, the output types and the license at the module root; Core and its dependencies under dependencies/; only help under en-US/' {
        Get-ChildItem $script:ModuleFolder -File | Where-Object Extension -ne '.pdb' | Sort-Object Name | ForEach-Object Name |
            Should -Be @('LICENSE', 'PgBackup.dll', 'PgBackup.Format.ps1xml', 'PgBackup.psd1', 'PgBackup.Types.dll')
        Get-ChildItem $script:ModuleFolder -Directory | Sort-Object Name | ForEach-Object Name | Should -Be @('dependencies', 'en-US')
        Get-ChildItem (Join-Path $script:ModuleFolder 'en-US') | Sort-Object Name | ForEach-Object Name | Should -Be @('about_PgBackup.help.txt', 'PgBackup.dll-Help.xml')
        $dependencies = Get-ChildItem (Join-Path $script:ModuleFolder 'dependencies') -File | ForEach-Object Name
        $dependencies | Should -Contain 'PgBackup.Core.dll'
        $dependencies | Should -Contain 'Npgsql.dll'
        $dependencies | Should -Contain 'AWSSDK.Core.dll'
        foreach ($azure in 'Azure.Core.dll', 'Azure.Storage.Blobs.dll', 'Azure.Storage.Common.dll', 'Azure.Identity.dll') { $dependencies | Should -Contain $azure }
        $dependencies | Should -Contain 'BouncyCastle.Cryptography.dll'
        $dependencies | Should -Not -Contain 'PgBackup.Types.dll'
        $dependencies | Should -Not -Contain 'PgBackup.dll'
        $manifest = Import-PowerShellDataFile $script:ModulePath
        $manifest.RootModule | Should -Be 'PgBackup.dll'
        $manifest.RequiredAssemblies | Should -Be @('PgBackup.Types.dll')
    }

    It 'resolves [PgBackup.BackupInfo] and the other output types in a script right after Import-Module, as the types the cmdlets declare' {
        $result = Invoke-FreshPwsh -Script @"
`$ErrorActionPreference = 'Stop'
Import-Module '$script:ModulePath'
"names=`$(([PgBackup.BackupInfo], [PgBackup.TestResult], [PgBackup.TestCheck], [PgBackup.RestoreResult], [PgBackup.BackupSummary], [PgBackup.BackupStatus], [PgBackup.TestLevel]).FullName -join ',')"
"declared=`$(([PgBackup.BackupInfo] -eq (Get-Command New-PgBackup).OutputType[0].Type) -and ([PgBackup.TestResult] -eq (Get-Command Test-PgBackup).OutputType[0].Type))"
"levelParameter=`$((Get-Command Test-PgBackup).Parameters.Level.ParameterType.FullName)"
"statusParameter=`$((Get-Command Get-PgBackupInfo).Parameters.Status.ParameterType -eq [Nullable[PgBackup.BackupStatus]])"
"formatParameter=`$((Get-Command New-PgBackup).Parameters.Format.ParameterType.FullName)"
$script:ContextReport
"@
        $output = $result.Output -join "`n"
        $result.ExitCode | Should -Be 0 -Because $output
        $values = ConvertFrom-Report $result.Output
        $values.names | Should -Be 'PgBackup.BackupInfo,PgBackup.TestResult,PgBackup.TestCheck,PgBackup.RestoreResult,PgBackup.BackupSummary,PgBackup.BackupStatus,PgBackup.TestLevel'
        $values.declared | Should -Be 'True'
        # Enum parameters are the enums themselves (no stand-in types).
        $values.levelParameter | Should -Be 'PgBackup.TestLevel'
        $values.statusParameter | Should -Be 'True'
        $values.formatParameter | Should -Be 'PgBackup.BackupFormat'
        $values.typesContext | Should -Be 'Default'
        $values.typesLocation | Should -Be (Join-Path $script:ModuleFolder 'PgBackup.Types.dll')
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
$script:ContextReport
foreach (`$npgsql in [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { `$_.GetName().Name -eq 'Npgsql' }) {
    "npgsql=`$(`$alc::GetLoadContext(`$npgsql).Name)|`$(`$npgsql.GetName().Version)|`$(`$npgsql.Location)"
}
"sessionNpgsql=`$([Npgsql.NpgsqlConnection].Assembly.GetName().Version)"
"@
            $output = $result.Output -join "`n"
            $result.ExitCode | Should -Be 0 -Because $output
            $values = ConvertFrom-Report $result.Output

            $values.backupStatus | Should -Be 'Succeeded' -Because $output
            $values.testPassed | Should -Be 'True' -Because $values.testFailures
            $values.restoredType | Should -Be 'PgBackup.RestoreResult'
            $values.expired | Should -Be $values.first -Because 'the older of two backups expires with -KeepLast 1'
            $values.literalIsOutputType | Should -Be 'True'
            $values.viewHeader | Should -Be 'True'
            $values.typesContext | Should -Be 'Default'
            $values.coreContext | Should -Be 'PgBackup'
            $values.coreLocation | Should -Be (Join-Path $script:ModuleFolder 'dependencies/PgBackup.Core.dll')

            # Two Npgsql side by side: the session's 8.0.5 in the default context, the module's 10.x from dependencies/.
            $npgsqls = @($values.npgsql)
            $npgsqls.Count | Should -Be 2 -Because $output
            $npgsqls | Where-Object { $_ -like 'Default|*' } | Should -Match '^Default\|8\.0\.5\.0\|'
            $module = $npgsqls | Where-Object { $_ -like 'PgBackup|*' }
            $module | Should -Match '^PgBackup\|10\.'
            ($module -split '\|')[2] | Should -Be (Join-Path $script:ModuleFolder 'dependencies/Npgsql.dll')
            $values.sessionNpgsql | Should -Be '8.0.5.0'
        }
    }

    Context 'in a session where another module already loaded AWSSDK.Core 3.7' {
        BeforeAll {
            $script:Cluster = Start-TestCluster
            $script:Database = 'isolation_aws'
            $script:Cluster.CreateNorthwind($script:Database)
            $script:S3 = Start-TestS3rver
            $script:OtherAwsSdk = Get-NuGetPackagePath 'awssdk.core/3.7.402/lib/net8.0/AWSSDK.Core.dll'
        }

        AfterAll {
            Stop-TestS3rver $script:S3
            if ($script:Cluster) { $script:Cluster.Dispose() }
        }

        It 'backs up to S3, lists, tests and restores on its own AWSSDK 4 from dependencies/' {
            $connection = $script:Cluster.ConnectionUri()
            $repository = "s3://$($script:S3.Bucket)/isolation"
            $result = Invoke-FreshPwsh -Script @"
`$ErrorActionPreference = 'Stop'
Add-Type -Path '$script:OtherAwsSdk'
# The other module's SDK really works in this session.
`$null = [Amazon.Runtime.BasicAWSCredentials]::new('other', 'module')
Import-Module '$script:ModulePath'

`$backup = New-PgBackup -Database '$script:Database' -Repository '$repository' -S3Endpoint '$($script:S3.Endpoint)' -ConnectionString '$connection'
`$tested = Get-PgBackupInfo -Repository '$repository' -S3Endpoint '$($script:S3.Endpoint)' | Test-PgBackup -Level Structure
`$restored = `$backup | Restore-PgBackup -TargetDatabase 'isolation_aws_restored' -ConnectionString '$connection' -Force
"backupStatus=`$(`$backup.Status)"
"sha256=`$(`$backup.Sha256)"
"artifactKey=`$(`$backup.ArtifactKey)"
"testPassed=`$(`$tested.Passed)"
"testFailures=`$(`$tested.DescribeFailures())"
"restoredType=`$(`$restored.GetType().FullName)"
`$alc = [System.Runtime.Loader.AssemblyLoadContext]
foreach (`$sdk in [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { `$_.GetName().Name -eq 'AWSSDK.Core' }) {
    "awssdk=`$(`$alc::GetLoadContext(`$sdk).Name)|`$(`$sdk.GetName().Version.Major)|`$(`$sdk.Location)"
}
"sessionAwsSdk=`$([Amazon.Runtime.AWSCredentials].Assembly.GetName().Version.Major)"
"@
            $output = $result.Output -join "`n"
            $result.ExitCode | Should -Be 0 -Because $output
            $values = ConvertFrom-Report $result.Output

            $values.backupStatus | Should -Be 'Succeeded' -Because $output
            $script:S3.StoredObjectSha256("isolation/$($values.artifactKey)") | Should -Be $values.sha256
            $values.testPassed | Should -Be 'True' -Because $values.testFailures
            $values.restoredType | Should -Be 'PgBackup.RestoreResult'
            $script:Cluster.Psql('isolation_aws_restored', 'SELECT count(*) FROM orders;') | Should -Be $script:Cluster.Psql($script:Database, 'SELECT count(*) FROM orders;')

            $sdks = @($values.awssdk)
            $sdks.Count | Should -Be 2 -Because $output
            $sdks | Where-Object { $_ -like 'Default|*' } | Should -Match '^Default\|3\|'
            $module = $sdks | Where-Object { $_ -like 'PgBackup|*' }
            $module | Should -Match '^PgBackup\|4\|'
            ($module -split '\|')[2] | Should -Be (Join-Path $script:ModuleFolder 'dependencies/AWSSDK.Core.dll')
            $values.sessionAwsSdk | Should -Be '3'
        }
    }
}
