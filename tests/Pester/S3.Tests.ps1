# S3 repositories through the cmdlets: a real S3 API (s3rver, started here) and a real PostgreSQL.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-PgBackupModulePath) -Force
    $script:Cluster = Start-TestCluster
    $script:S3 = Start-TestS3rver
    $script:Database = 's3_pester_' + [guid]::NewGuid().ToString('N').Substring(0, 8)
    $script:Cluster.CreateNorthwind($script:Database)
    $script:ConnectionString = "postgresql://postgres@127.0.0.1:$($script:Cluster.Port)/postgres"
    $script:Repository = "s3://$($script:S3.Bucket)/pester"
}

AfterAll {
    Stop-TestS3rver $script:S3
    if ($script:Cluster) { $script:Cluster.Dispose() }
}

Describe 'S3 repositories' {
    It 'New-PgBackup streams into s3:// and the stored bytes match the reported SHA-256' {
        $backup = New-PgBackup -Database $script:Database -ConnectionString $script:ConnectionString -Repository $script:Repository `
            -S3Endpoint $script:S3.Endpoint -StorageClass STANDARD -ServerSideEncryption AES256 -ErrorAction Stop

        $backup.PSObject.TypeNames[0] | Should -Be 'PgBackup.BackupInfo'
        $backup.Status | Should -Be 'Succeeded'
        $backup.Repository | Should -Be $script:Repository
        $backup.Location | Should -Match "^s3://$($script:S3.Bucket)/pester/\d{4}/\d{2}/\d{2}/.+\.dump\.zst$"
        $stored = Join-Path $script:S3.DataDirectory "$($script:S3.Bucket)/pester/$($backup.ArtifactKey)._S3rver_object"
        (Get-FileHash -Path $stored -Algorithm SHA256).Hash.ToLowerInvariant() | Should -Be $backup.Sha256
        (Get-Item $stored).Length | Should -Be $backup.SizeBytes
    }

    It 'Get-PgBackupInfo lists the S3 backups and reads one back by its manifest URI' {
        $listed = @(Get-PgBackupInfo -Repository $script:Repository -S3Endpoint $script:S3.Endpoint -ErrorAction Stop)
        $listed.Count | Should -Be 1
        $listed[0].Database | Should -Be $script:Database

        $byPath = Get-PgBackupInfo -Path $listed[0].ManifestLocation -S3Endpoint $script:S3.Endpoint -ErrorAction Stop
        $byPath.Id | Should -Be $listed[0].Id
        $byPath.Sha256 | Should -Be $listed[0].Sha256
    }

    It 'takes the endpoint from AWS_ENDPOINT_URL_S3 when -S3Endpoint is not given' {
        $listed = Invoke-WithEnvironment @{ AWS_ENDPOINT_URL_S3 = $script:S3.Endpoint } { @(Get-PgBackupInfo -Repository $script:Repository -ErrorAction Stop) }
        @($listed).Count | Should -Be 1
    }

    It 'reports a missing bucket as RepositoryNotFound (terminating for Get-PgBackupInfo)' {
        { Get-PgBackupInfo -Repository 's3://no-such-bucket/x' -S3Endpoint $script:S3.Endpoint -ErrorAction Stop } |
            Should -Throw -ErrorId 'RepositoryNotFound,PgBackup.Commands.GetPgBackupInfoCommand'
    }

    It 'reports a missing bucket as a non-terminating RepositoryNotFound per database for New-PgBackup' {
        $errors = $null
        $result = New-PgBackup -Database $script:Database -ConnectionString $script:ConnectionString -Repository 's3://no-such-bucket/x' `
            -S3Endpoint $script:S3.Endpoint -ErrorAction SilentlyContinue -ErrorVariable errors
        $result | Should -BeNullOrEmpty
        $errors.Count | Should -Be 1
        $errors[0].FullyQualifiedErrorId | Should -Be 'RepositoryNotFound,PgBackup.Commands.NewPgBackupCommand'
        $errors[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'reports an endpoint nobody listens on as RepositoryUnreachable' {
        $port = [PgBackup.TestSupport.TestEnvironment]::GetFreeTcpPort()
        { Get-PgBackupInfo -Repository $script:Repository -S3Endpoint "http://127.0.0.1:$port" -ErrorAction Stop } |
            Should -Throw -ErrorId 'RepositoryUnreachable,PgBackup.Commands.GetPgBackupInfoCommand'
    }

    It 'refuses -KmsKeyId without -ServerSideEncryption aws:kms' {
        { New-PgBackup -Database $script:Database -ConnectionString $script:ConnectionString -Repository $script:Repository `
                -S3Endpoint $script:S3.Endpoint -KmsKeyId 'alias/backups' -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidRepository,PgBackup.Commands.NewPgBackupCommand'
    }

    It 'refuses a part size below S3''s 5 MiB minimum at binding time' {
        { New-PgBackup -Database x -Repository $script:Repository -S3PartSizeMB 4 } |
            Should -Throw -ErrorId 'ParameterArgumentValidationError,PgBackup.Commands.NewPgBackupCommand'
    }
}

Describe 'S3 parameter surface' {
    It 'gives every cmdlet -S3Endpoint and -S3Region' {
        foreach ($name in 'New-PgBackup', 'Get-PgBackupInfo') {
            $command = Get-Command $name
            $command.Parameters.Keys | Should -Contain 'S3Endpoint'
            $command.Parameters.Keys | Should -Contain 'S3Region'
            $command.Parameters['S3Endpoint'].ParameterType | Should -Be ([string])
        }
    }

    It 'gives New-PgBackup the storage options, and only New-PgBackup' {
        $new = Get-Command New-PgBackup
        $new.Parameters['StorageClass'].ParameterType | Should -Be ([string])
        $new.Parameters['KmsKeyId'].ParameterType | Should -Be ([string])
        $new.Parameters['S3PartSizeMB'].ParameterType | Should -Be ([Nullable[int]])
        $set = $new.Parameters['ServerSideEncryption'].Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] }
        $set.ValidValues | Should -Be @('None', 'AES256', 'aws:kms')
        $range = $new.Parameters['S3PartSizeMB'].Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateRangeAttribute] }
        $range.MinRange | Should -Be 5
        $range.MaxRange | Should -Be 1024
        (Get-Command Get-PgBackupInfo).Parameters.Keys | Should -Not -Contain 'StorageClass'
    }
}
