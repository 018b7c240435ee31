# Azure Blob repositories through the cmdlets: a real Blob API (Azurite, started here) and a real PostgreSQL.
# Credentials come from AZURE_STORAGE_* variables, as in a pipeline; what Azurite stores is read back
# through its REST API (PgBackup.TestSupport.AzuriteServer), never through the module.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-PgBackupModulePath) -Force
    $script:Cluster = Start-TestCluster
    $script:Azurite = Start-TestAzurite
    $script:Container = [PgBackup.TestSupport.AzuriteServer]::DefaultContainer
    $script:Database = 'azure_pester_' + [guid]::NewGuid().ToString('N').Substring(0, 8)
    $script:Cluster.CreateNorthwind($script:Database)
    $script:ConnectionString = "postgresql://postgres@127.0.0.1:$($script:Cluster.Port)/postgres"
    $script:Url = "$($script:Azurite.ServiceEndpoint)/$($script:Container)/pester"

    function Get-BlobProperties([string] $BlobName) { $script:Azurite.GetBlobProperties($script:Container, $BlobName) }

    # A pipeline that holds only the connection string (account, endpoint and key in one secret).
    $script:ConnectionStringOnly = @{ AZURE_STORAGE_ACCOUNT = $null; AZURE_STORAGE_KEY = $null; AZURE_STORAGE_CONNECTION_STRING = $script:Azurite.ConnectionString }
}

AfterAll {
    Stop-TestAzurite $script:Azurite
    if ($script:Cluster) { $script:Cluster.Dispose() }
}

# Start-TestAzurite put the account name and key into the environment; a test that needs other variables sets them
# with Invoke-WithEnvironment, which puts them back.
Describe 'Azure Blob repositories' {
    It 'New-PgBackup streams into a path-style Azurite URL with -AccessTier; the stored bytes match the reported SHA-256' {
        $backup = New-PgBackup -Database $script:Database -ConnectionString $script:ConnectionString -Repository $script:Url -AccessTier Cold -ErrorAction Stop

        $backup.PSObject.TypeNames[0] | Should -Be 'PgBackup.BackupInfo'
        $backup.Status | Should -Be 'Succeeded'
        $backup.Repository | Should -Be $script:Url
        $backup.Location | Should -Match "^$([regex]::Escape($script:Url))/\d{4}/\d{2}/\d{2}/.+\.dump\.zst$"
        $stored = $script:Azurite.GetBlob($script:Container, "pester/$($backup.ArtifactKey)")
        [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($stored)).ToLowerInvariant() | Should -Be $backup.Sha256
        $stored.Length | Should -Be $backup.SizeBytes
        $properties = Get-BlobProperties "pester/$($backup.ArtifactKey)"
        $properties['x-ms-access-tier'] | Should -Be 'Cold'
        $properties['x-ms-meta-sha256'] | Should -Be $backup.Sha256
        (Get-BlobProperties "pester/$($backup.ManifestKey)")['x-ms-access-tier'] | Should -Be 'Hot'
    }

    It 'stores artifacts in the Cool tier by default' {
        $prefix = 'cool-' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $backup = New-PgBackup -Database $script:Database -ConnectionString $script:ConnectionString -Repository "$($script:Azurite.ServiceEndpoint)/$($script:Container)/$prefix" -ErrorAction Stop
        (Get-BlobProperties "$prefix/$($backup.ArtifactKey)")['x-ms-access-tier'] | Should -Be 'Cool'
    }

    It 'Get-PgBackupInfo lists the Azure backups and reads one back by its manifest URL (-Path)' {
        $listed = @(Get-PgBackupInfo -Repository $script:Url -ErrorAction Stop)
        $listed.Count | Should -Be 1
        $listed[0].Database | Should -Be $script:Database

        $byPath = Get-PgBackupInfo -Path $listed[0].ManifestLocation -ErrorAction Stop
        $byPath.Id | Should -Be $listed[0].Id
        $byPath.Sha256 | Should -Be $listed[0].Sha256
        (Test-PgBackup -Path $listed[0].Location -Level Checksum -ErrorAction Stop).Passed | Should -BeTrue
    }

    It 'az:// takes account, endpoint and key from AZURE_STORAGE_CONNECTION_STRING, and a piped BackupInfo re-opens its repository without it' {
        $prefix = 'az-' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $backup = Invoke-WithEnvironment $script:ConnectionStringOnly {
            New-PgBackup -Database $script:Database -ConnectionString $script:ConnectionString -Repository "az://$($script:Container)/$prefix" -RowCounts -ErrorAction Stop
        }
        $listed = @(Invoke-WithEnvironment $script:ConnectionStringOnly { Get-PgBackupInfo -Repository "az://$($script:Container)/$prefix" -ErrorAction Stop })

        $backup.Repository | Should -Be "az://$($script:Container)/$prefix"
        $backup.Location | Should -Be "az://$($script:Container)/$prefix/$($backup.ArtifactKey)"
        $listed.Count | Should -Be 1
        # The descriptor carries the account endpoint (never a credential): all a later step needs besides the key.
        $listed[0].RepositoryDescriptor.Location | Should -Be "az://$($script:Container)/$prefix"
        $listed[0].RepositoryDescriptor.Settings.Keys | Should -Be @('endpoint')
        $listed[0].RepositoryDescriptor.Setting('endpoint') | Should -Be $script:Azurite.ServiceEndpoint
        "$($listed[0].RepositoryDescriptor)" | Should -Not -Match ([regex]::Escape($script:Azurite.AccountKey))
        $backup.RepositoryDescriptor | Should -Be $listed[0].RepositoryDescriptor
        $script:Azurite.StoredSha256($script:Container, "$prefix/$($backup.ArtifactKey)") | Should -Be $backup.Sha256

        # Later, in a step that only has the key: no connection string, no AZURE_STORAGE_ACCOUNT, no endpoint.
        Invoke-WithEnvironment @{ AZURE_STORAGE_ACCOUNT = $null; AZURE_STORAGE_CONNECTION_STRING = $null } {
            $target = 'azure_piped_' + [guid]::NewGuid().ToString('N').Substring(0, 8)
            $tested = $listed | Test-PgBackup -Level Restore -ConnectionString $script:ConnectionString -ErrorAction Stop
            $restored = $listed | Restore-PgBackup -TargetDatabase $target -ConnectionString $script:ConnectionString -Force -ErrorAction Stop
            $removed = @($listed | Remove-PgBackupExpired -KeepLast 1 -PassThru -Confirm:$false -ErrorAction Stop)

            $tested.Passed | Should -BeTrue
            $restored.TargetDatabase | Should -Be $target
            $removed.Count | Should -Be 0
            { Get-PgBackupInfo -Repository "az://$($script:Container)/$prefix" -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidRepository,PgBackup.Commands.GetPgBackupInfoCommand'
        }
    }

    It 'reports a missing container as RepositoryNotFound (terminating for Get-PgBackupInfo, per database for New-PgBackup)' {
        $missing = "$($script:Azurite.ServiceEndpoint)/no-such-container/x"
        { Get-PgBackupInfo -Repository $missing -ErrorAction Stop } | Should -Throw -ErrorId 'RepositoryNotFound,PgBackup.Commands.GetPgBackupInfoCommand'

        $errors = $null
        $result = New-PgBackup -Database $script:Database -ConnectionString $script:ConnectionString -Repository $missing -ErrorAction SilentlyContinue -ErrorVariable errors
        $result | Should -BeNullOrEmpty
        $errors.Count | Should -Be 1
        $errors[0].FullyQualifiedErrorId | Should -Be 'RepositoryNotFound,PgBackup.Commands.NewPgBackupCommand'
        $errors[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'reports a wrong account key as RepositoryAccessDenied, and no key appears in errors, verbose output or objects' {
        $wrongKey = [Convert]::ToBase64String([Security.Cryptography.RandomNumberGenerator]::GetBytes(64))
        $run = Invoke-WithEnvironment @{ AZURE_STORAGE_KEY = $wrongKey } {
            $errors = $null
            $output = New-PgBackup -Database $script:Database -ConnectionString $script:ConnectionString -Repository $script:Url -Verbose `
                -ErrorAction SilentlyContinue -ErrorVariable errors 4>&1 | Out-String
            { Get-PgBackupInfo -Repository $script:Url -ErrorAction Stop } | Should -Throw -ErrorId 'RepositoryAccessDenied,PgBackup.Commands.GetPgBackupInfoCommand'
            [pscustomobject]@{ Errors = @($errors); Output = $output }
        }
        $errors, $output = $run.Errors, $run.Output

        $errors.Count | Should -Be 1
        $errors[0].FullyQualifiedErrorId | Should -Be 'RepositoryAccessDenied,PgBackup.Commands.NewPgBackupCommand'
        $errors[0].CategoryInfo.Category | Should -Be 'PermissionDenied'
        $text = $output + ($errors | ForEach-Object { $_.ToString() + $_.Exception.ToString() } | Out-String)
        $text | Should -Not -Match ([regex]::Escape($wrongKey))
        $text | Should -Not -Match ([regex]::Escape($script:Azurite.AccountKey))
    }

    It 'reports an endpoint nobody listens on as RepositoryUnreachable' {
        $port = [PgBackup.TestSupport.TestEnvironment]::GetFreeTcpPort()
        { Get-PgBackupInfo -Repository "http://127.0.0.1:$port/$([PgBackup.TestSupport.AzuriteServer]::AccountName)/$($script:Container)/x" -ErrorAction Stop } |
            Should -Throw -ErrorId 'RepositoryUnreachable,PgBackup.Commands.GetPgBackupInfoCommand'
    }

    It 'refuses az:// without an account, and a URL carrying a SAS token without repeating it (InvalidRepository)' {
        Invoke-WithEnvironment @{ AZURE_STORAGE_ACCOUNT = $null } {
            { Get-PgBackupInfo -Repository "az://$($script:Container)/x" -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidRepository,PgBackup.Commands.GetPgBackupInfoCommand'
        }

        $signature = 'sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D'
        $thrown = $null
        try { Get-PgBackupInfo -Repository "$($script:Url)?sv=2024-08-04&sp=rl&$signature" -ErrorAction Stop } catch { $thrown = $_ }
        $thrown.FullyQualifiedErrorId | Should -Be 'InvalidRepository,PgBackup.Commands.GetPgBackupInfoCommand'
        $thrown.Exception.Message | Should -Match 'AZURE_STORAGE_SAS_TOKEN'
        "$($thrown.Exception) $($thrown.TargetObject)" | Should -Not -Match 'sig='
    }

    It 'keeps every storage secret out of pg_dump''s environment' {
        $database = 'azure_env_' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $script:Cluster.CreateDatabase($database)
        $null = $script:Cluster.Psql($database, 'CREATE TABLE payload AS SELECT g AS id, md5(g::text) || md5((g * 7)::text) AS body FROM generate_series(1, 200000) g;')
        # Secrets of every kind in this process; the connection string names Azurite itself, not the proxy, so the key is used.
        $secrets = @{
            AZURE_STORAGE_CONNECTION_STRING = $script:Azurite.ConnectionString
            AZURE_CLIENT_SECRET             = 'entra-secret-not-for-pg-dump'
            AWS_SECRET_ACCESS_KEY           = 'aws-secret-not-for-pg-dump'
        }
        $proxy = [PgBackup.TestSupport.AzureFaultProxy]::Start($script:Azurite.Endpoint)
        $shell = [powershell]::Create()
        $savedVariables = Set-ProcessVariables $secrets
        try {
            # The proxy holds the block uploads, so pg_dump stays alive (its pipe full) while its environment is read.
            $hold = $proxy.Hold([PgBackup.TestSupport.AzureOperation]::PutBlock)
            $null = $shell.AddCommand('Import-Module').AddArgument((Get-PgBackupModulePath)).AddStatement().
                AddCommand('New-PgBackup').AddParameter('Database', $database).AddParameter('ConnectionString', $script:ConnectionString).
                AddParameter('Repository', "$($proxy.ServiceEndpoint)/$($script:Container)/env").AddParameter('Compression', 'None').AddParameter('AzureBlockSizeMB', 1)
            $invocation = $shell.BeginInvoke()
            $hold.WaitForHeld(1, [TimeSpan]::FromMinutes(1))
            $pgDump = [PgBackup.TestSupport.LocalProcesses]::Find('pg_dump', $database)
            $pgDump | Should -Not -BeNullOrEmpty
            $environment = [IO.File]::ReadAllText("/proc/$($pgDump.Id)/environ").Split([char]0)
            $hold.Release()
            $backup = $shell.EndInvoke($invocation)

            $environment | Should -Contain 'PGAPPNAME=pgbackup' -Because 'the environment was read from pg_dump'
            @($environment | Where-Object { $_ -match '^(AZURE_STORAGE_KEY|AZURE_STORAGE_CONNECTION_STRING|AZURE_CLIENT_SECRET|AWS_SECRET_ACCESS_KEY)=' }) | Should -BeNullOrEmpty
            @($environment | Where-Object { $_ -match [regex]::Escape($script:Azurite.AccountKey) }) | Should -BeNullOrEmpty
            $backup[0].Status | Should -Be 'Succeeded'
            @($proxy.RequestsOf([PgBackup.TestSupport.AzureOperation]::PutBlock)).Count | Should -BeGreaterThan 1
        }
        finally {
            Restore-ProcessVariables $savedVariables
            $shell.Dispose()
            $proxy.Dispose()
        }
    }
}

Describe 'Azure parameter surface' {
    It 'gives New-PgBackup -AccessTier (Hot, Cool, Cold, Archive; default Cool) and -AzureBlockSizeMB, and only New-PgBackup' {
        $new = Get-Command New-PgBackup
        $new.Parameters['AccessTier'].ParameterType | Should -Be ([string])
        $set = $new.Parameters['AccessTier'].Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] }
        $set.ValidValues | Should -Be @('Hot', 'Cool', 'Cold', 'Archive')
        [PgBackup.Commands.NewPgBackupCommand]::new().AccessTier | Should -Be 'Cool'
        $new.Parameters['AzureBlockSizeMB'].ParameterType | Should -Be ([Nullable[int]])
        $range = $new.Parameters['AzureBlockSizeMB'].Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateRangeAttribute] }
        $range.MinRange | Should -Be 1
        $range.MaxRange | Should -Be 1024
        foreach ($name in 'Get-PgBackupInfo', 'Test-PgBackup', 'Restore-PgBackup', 'Remove-PgBackupExpired') {
            (Get-Command $name).Parameters.Keys | Should -Not -Contain 'AccessTier'
        }
    }

    It 'refuses an unknown tier at binding time' {
        { New-PgBackup -Database x -Repository $script:Url -AccessTier Premium } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,PgBackup.Commands.NewPgBackupCommand'
    }
}
