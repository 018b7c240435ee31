BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-PgBackupModulePath) -Force
    $script:Cluster = Start-TestCluster
    $script:Database = 'northwind_pester_verify'
    $script:Cluster.CreateNorthwind($script:Database)
    $script:Connection = @{ Server = $script:Cluster.Host; Port = $script:Cluster.Port; Credential = (New-TestCredential) }

    function Get-LeftoverVerifyDatabase {
        $script:Cluster.ListDatabasesAsync().GetAwaiter().GetResult() | Where-Object { $_ -like 'pgbackup_verify_*' }
    }
}

AfterAll {
    if ($script:Cluster) { $script:Cluster.Dispose() }
}

Describe 'Test-PgBackup' {
    BeforeEach {
        $script:Repository = New-TestFolder
    }

    AfterEach {
        Remove-Item $script:Repository -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'has a pinned parameter surface' {
        $command = Get-Command Test-PgBackup
        $common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
        ($command.Parameters.Keys | Where-Object { $_ -notin $common } | Sort-Object) -join ',' |
            Should -Be 'ConnectionString,Credential,DecryptionKey,DecryptionKeyPassphrase,EncryptionPassphrase,Force,InputObject,KeepDatabase,Level,LiteralPath,LogPath,Path,Port,S3Endpoint,S3Region,Server,TrustedSigningKey'
        ($command.ParameterSets.Name | Sort-Object) -join ',' | Should -Be 'InputObject,LiteralPath,Path'
        $command.DefaultParameterSet | Should -Be 'InputObject'
        $command.OutputType.Name | Should -Be 'PgBackup.TestResult'

        $inputObject = $command.Parameters.InputObject.ParameterSets.InputObject
        $inputObject.IsMandatory | Should -BeTrue
        $inputObject.ValueFromPipeline | Should -BeTrue
        $command.Parameters.InputObject.ParameterType.FullName | Should -Be 'PgBackup.BackupInfo'
        $path = $command.Parameters.Path.ParameterSets.Path
        $path.IsMandatory | Should -BeTrue
        $path.Position | Should -Be 0
        $command.Parameters.Path.Attributes.Where({ $_ -is [SupportsWildcards] }) | Should -Not -BeNullOrEmpty
        $literalPath = $command.Parameters.LiteralPath.ParameterSets.LiteralPath
        $literalPath.IsMandatory | Should -BeTrue
        $literalPath.ValueFromPipelineByPropertyName | Should -BeTrue
        $command.Parameters.LiteralPath.Aliases -join ',' | Should -Be 'LP,ManifestLocation,Location,FullName'
        $command.Parameters.Server.Aliases | Should -Contain 'Host'
        $command.Parameters.Level.ParameterType.FullName | Should -Be 'PgBackup.TestLevel'
        [enum]::GetNames([PgBackup.TestLevel]) -join ',' | Should -Be 'Checksum,Structure,Restore'
        $command.Parameters.KeepDatabase.SwitchParameter | Should -BeTrue
        $command.Parameters.Force.SwitchParameter | Should -BeTrue

        $attribute = $command.ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false)[0]
        # -WhatIf/-Confirm for the Restore level's temporary database; Low: it asks only when the user asks.
        $attribute.SupportsShouldProcess | Should -BeTrue
        $attribute.ConfirmImpact | Should -Be 'Low'
    }

    It 'New-PgBackup -Format <Format> -Compression <Compression> -RowCounts | Test-PgBackup -Level Restore passes in one pipeline and drops its database' -TestCases @(
        @{ Format = 'Custom'; Compression = 'Gzip' }
        @{ Format = 'Plain'; Compression = 'Gzip' }
        @{ Format = 'Tar'; Compression = 'None' }
        @{ Format = 'Custom'; Compression = 'Zstd' }
        # pg_dump -j 2: the row counts must come from the snapshot the two workers dump.
        @{ Format = 'Directory'; Compression = 'Gzip'; Jobs = 2 }
    ) {
        param($Format, $Compression, $Jobs = 1)
        $result = New-PgBackup -Database $script:Database -Repository $script:Repository -Format $Format -Compression $Compression -Jobs $Jobs -RowCounts @script:Connection |
            Test-PgBackup -Level Restore @script:Connection -ErrorAction Stop

        $result | Should -HaveCount 1
        $result.GetType().FullName | Should -Be 'PgBackup.TestResult'
        $result.Passed | Should -BeTrue -Because (($result.Checks | ForEach-Object { "$($_.Name): $($_.Detail)" }) -join '; ')
        $result.Level | Should -Be 'Restore'
        $result.Backup.Database | Should -Be $script:Database
        ($result.Checks | Where-Object Name -eq 'Row counts').Passed | Should -BeTrue
        $result.TemporaryDatabase | Should -BeLike 'pgbackup_verify_northwind_pester_verify_*'
        Get-LeftoverVerifyDatabase | Should -BeNullOrEmpty
        # The default view renders (selected by the full type name).
        ($result | Out-String) | Should -Match 'Restore'
    }

    It 'defaults to the Structure level and binds -Path by property name (a deserialized BackupInfo)' {
        $backup = New-PgBackup -Database $script:Database -Repository $script:Repository @script:Connection
        $saved = Join-Path $script:Repository 'backup.clixml'
        $backup | Export-Clixml -Path $saved
        # Deserialized objects carry both ManifestLocation and Location; either names the same backup.
        $result = Import-Clixml -Path $saved | Test-PgBackup -ErrorAction Stop

        $result.Level | Should -Be 'Structure'
        $result.Passed | Should -BeTrue
        # The default compression is PgBackup's zstd stream: its frames are decoded to the end as a check of its own.
        ($result.Checks.Name) -join ',' | Should -Be 'Size,SHA-256,Decompression,Format header,Table of contents'
        $result.TemporaryDatabase | Should -BeNullOrEmpty
        $result.Backup.Id | Should -Be $backup.Id

        $fromArtifact = [pscustomobject]@{ Location = $backup.Location } | Test-PgBackup -Level Checksum -ErrorAction Stop
        $fromArtifact.Passed | Should -BeTrue
        $fromArtifact.Backup.Id | Should -Be $backup.Id
    }

    It 'tests every path of -Path a,b, each resolved against the current location before the first is read' {
        $first = New-PgBackup -Database $script:Database -Repository $script:Repository @script:Connection
        $second = New-PgBackup -Database $script:Database -Repository $script:Repository @script:Connection
        Push-Location $script:Repository
        try {
            $relative = $first, $second | ForEach-Object { [IO.Path]::GetRelativePath($script:Repository, $_.ManifestLocation) }
            $results = @(Test-PgBackup -Path $relative[0], $relative[1] -Level Checksum -ErrorAction Stop)
        }
        finally { Pop-Location }

        $results.Count | Should -Be 2
        $results.Backup.Id | Should -Be @($first.Id, $second.Id)
        $results.Passed | Should -Be @($true, $true)
    }

    It 'reports a flipped byte as a failed result plus a BackupTestFailed error that -ErrorAction Stop turns into a stop' {
        $backup = New-PgBackup -Database $script:Database -Repository $script:Repository @script:Connection
        $bytes = [IO.File]::ReadAllBytes($backup.Location)
        $middle = [int]($bytes.Length / 2)
        $bytes[$middle] = $bytes[$middle] -bxor 1
        [IO.File]::WriteAllBytes($backup.Location, $bytes)

        $result = Get-PgBackupInfo -Path $backup.ManifestLocation | Test-PgBackup -Level Checksum -ErrorVariable failures -ErrorAction SilentlyContinue

        $result.Passed | Should -BeFalse
        $sha = $result.Checks | Where-Object Name -eq 'SHA-256'
        $sha.Passed | Should -BeFalse
        $sha.Detail | Should -BeLike "expected sha256 $($backup.Sha256) (manifest), actual sha256 *"
        $failures | Should -HaveCount 1
        $failures[0].FullyQualifiedErrorId | Should -Be 'BackupTestFailed,PgBackup.Commands.TestPgBackupCommand'
        $failures[0].CategoryInfo.Category | Should -Be 'InvalidResult'
        $failures[0].TargetObject.Id | Should -Be $backup.Id

        { Test-PgBackup -Path $backup.ManifestLocation -Level Checksum -ErrorAction Stop } |
            Should -Throw -ErrorId 'BackupTestFailed,PgBackup.Commands.TestPgBackupCommand'
    }

    It 'reports a failed attempt as BackupNotRestorable without a result' {
        $backup = New-PgBackup -Database $script:Database -Repository $script:Repository @script:Connection
        $manifest = Get-Content $backup.ManifestLocation -Raw | ConvertFrom-Json
        $manifest.status = 'Failed'
        $manifest | ConvertTo-Json -Depth 5 | Set-Content $backup.ManifestLocation

        $result = Test-PgBackup -Path $backup.ManifestLocation -ErrorVariable failures -ErrorAction SilentlyContinue

        $result | Should -BeNullOrEmpty
        $failures[0].FullyQualifiedErrorId | Should -Be 'BackupNotRestorable,PgBackup.Commands.TestPgBackupCommand'
    }
}

Describe 'New-PgBackup -RowCounts -Verify' {
    It 'stores per-table row counts and verifies what it wrote without an error' {
        $repository = New-TestFolder
        try {
            $backup = New-PgBackup -Database $script:Database -Repository $repository -RowCounts -Verify @script:Connection -ErrorVariable failures

            $failures | Should -HaveCount 0
            $backup.Status | Should -Be 'Succeeded'
            $backup.RowCounts.Count | Should -Be 14
            $backup.RowCounts['"public"."orders"'] | Should -Be 830
            (Get-Content $backup.ManifestLocation -Raw | ConvertFrom-Json).rowCounts.'"public"."orders"' | Should -Be 830
        }
        finally {
            Remove-Item $repository -Recurse -Force -ErrorAction SilentlyContinue
        }
    }
}
