# What a child process of PgBackup can reveal (issue 9): a scan of /proc/<pid>/cmdline and /proc/<pid>/environ of
# every process PgBackup starts during a backup to S3, a restore-level test and a restore, with a database password
# and storage secrets set. The password may reach the PostgreSQL tools as PGPASSWORD and nowhere else; the storage
# secrets reach no child at all.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-PgBackupModulePath) -Force
    $script:Password = 'scan-Pw-7f3c1e!x'
    $script:Cluster = Start-TestCluster -Password $script:Password
    $script:Cluster.CreateNorthwind('scanned')
    $script:S3 = Start-TestS3rver
    $script:Connection = @{ Server = $script:Cluster.Host; Port = $script:Cluster.Port; Credential = New-TestCredential -Password $script:Password }
    # Secrets of stores this run does not use: a child must not get them either.
    $script:OtherSecrets = @{
        AZURE_STORAGE_KEY               = 'scan-azure-key-9d2e'
        AZURE_STORAGE_CONNECTION_STRING = 'AccountName=x;AccountKey=scan-azure-cs-4b1a'
        AZURE_CLIENT_SECRET             = 'scan-azure-client-5c7d'
        # A secret the AWS SDK reads that a list of known secret names once missed.
        AWS_CONTAINER_AUTHORIZATION_TOKEN = 'scan-aws-container-3a6b'
    }
    # s3rver checks the access key id, not the signature: a secret of our own is one nothing else could contain.
    $script:S3Secret = 'scan-aws-secret-61d0e2'
}

AfterAll {
    Stop-TestS3rver $script:S3
    if ($script:Cluster) { $script:Cluster.Dispose() }
}

Describe 'Secrets in child processes' {
    It 'shows the password only to the PostgreSQL tools, as PGPASSWORD, and storage secrets to no child' {
        $storageSecrets = @($script:S3Secret) + @($script:OtherSecrets.Values)
        $variables = $script:OtherSecrets + @{ AWS_SECRET_ACCESS_KEY = $script:S3Secret }
        $scan = [PgBackup.TestSupport.ChildProcessScan]::Start()
        try {
            Invoke-WithEnvironment $variables {
                $backup = New-PgBackup -Database scanned -Repository "s3://$($script:S3.Bucket)/scan" -S3Endpoint $script:S3.Endpoint @script:Connection -ErrorAction Stop
                $tested = $backup | Test-PgBackup -Level Restore @script:Connection -ErrorAction Stop
                $tested.Passed | Should -BeTrue
                $restored = $backup | Restore-PgBackup -TargetDatabase 'scanned_copy' -Force @script:Connection -ErrorAction Stop
                $restored | Should -Not -BeNullOrEmpty
            }
        }
        finally {
            $seen = $scan.Stop()
            $scan.Dispose()
        }

        $scan.Rounds | Should -BeGreaterThan 10
        $names = @($seen | ForEach-Object Name)
        $names | Should -Contain 'pg_dump'
        $names | Should -Contain 'pg_restore'
        $tools = 'pg_dump', 'pg_restore', 'psql'
        foreach ($child in $seen) {
            $what = "$($child.Name) (pid $($child.Pid)): $($child.Arguments -join ' ')"
            # Debian's pg_dump on PATH is a perl wrapper (pg_wrapper) run as "perl /usr/bin/pg_dump …".
            $isTool = $child.Name -in $tools -or @($child.Arguments | Select-Object -First 2 | Where-Object { (Split-Path $_ -Leaf) -in $tools }).Count -gt 0
            foreach ($argument in $child.Arguments) {
                $argument.Contains($script:Password) | Should -BeFalse -Because "$what argv must not hold the password"
                foreach ($secret in $storageSecrets) { $argument.Contains($secret) | Should -BeFalse -Because "$what argv must not hold $secret" }
            }
            foreach ($entry in $child.Environment) {
                foreach ($secret in $storageSecrets) { $entry.Contains($secret) | Should -BeFalse -Because "$what environment must not hold $secret" }
                if ($entry.Contains($script:Password)) {
                    $entry | Should -BeExactly "PGPASSWORD=$script:Password" -Because "$what environment"
                    $isTool | Should -BeTrue -Because "only the PostgreSQL tools need the password, not $what"
                }
            }
            @($child.Environment | Where-Object { $_ -like 'AWS_*' -or $_ -like 'AZURE_*' }) | Should -BeNullOrEmpty -Because "$what needs no storage settings"
        }
    }
}

Describe 'Secrets in the audit log' {
    It 'never writes the password or a storage secret, in outcomes and in failures alike' {
        $log = Join-Path (New-TestFolder) 'audit.jsonl'
        $repo = "s3://$($script:S3.Bucket)/scan-audit"
        $wrongPassword = 'scan-wrong-Pw-2e8a'
        $variables = $script:OtherSecrets + @{ AWS_SECRET_ACCESS_KEY = $script:S3Secret; PGPASSWORD = $null }
        Invoke-WithEnvironment $variables {
            $backup = New-PgBackup -Database scanned -Repository $repo -S3Endpoint $script:S3.Endpoint @script:Connection -LogPath $log -ErrorAction Stop
            $null = $backup | Test-PgBackup -Level Restore @script:Connection -LogPath $log -ErrorAction Stop
            $null = $backup | Restore-PgBackup -TargetDatabase 'scanned_audit_copy' -Force @script:Connection -LogPath $log -ErrorAction Stop
            $null = Get-PgBackupInfo -Repository $repo -S3Endpoint $script:S3.Endpoint -LogPath $log
            # Failures whose messages could echo what they were given: a password in a connection string, a wrong one.
            $uri = "postgresql://postgres:$([uri]::EscapeDataString($script:Password))@$($script:Cluster.Host):$($script:Cluster.Port)/missing_db"
            $null = New-PgBackup -ConnectionString $uri -Repository $repo -S3Endpoint $script:S3.Endpoint -LogPath $log -ErrorAction SilentlyContinue
            $wrong = @{ Server = $script:Cluster.Host; Port = $script:Cluster.Port; Credential = New-TestCredential -Password $wrongPassword }
            $null = New-PgBackup -Database scanned -Repository $repo -S3Endpoint $script:S3.Endpoint @wrong -LogPath $log -ErrorAction SilentlyContinue
        }

        $lines = @(Get-Content -LiteralPath $log)
        $entries = @($lines | ForEach-Object { $_ | ConvertFrom-Json })
        $entries.action | Should -Be @('Backup', 'Test', 'Restore', 'List', 'Backup', 'Backup')
        $entries.status | Should -Be @('Succeeded', 'Succeeded', 'Succeeded', 'Succeeded', 'Failed', 'Failed')
        $entries[4].errorId | Should -Be 'DatabaseNotFound'
        $entries[5].errorId | Should -Be 'AuthenticationFailed'
        $text = $lines -join "`n"
        foreach ($secret in @($script:Password, [uri]::EscapeDataString($script:Password), $wrongPassword, $script:S3Secret) + @($script:OtherSecrets.Values)) {
            $text.Contains($secret) | Should -BeFalse -Because "the audit log must not hold $secret"
        }
    }
}

Describe 'Secrets of encryption' {
    It 'never shows the encryption passphrase to a child, in verbose output, in a manifest or in the audit log' {
        $passphrase = 'scan-enc-Pass-4c9d7a'
        $secure = ConvertTo-SecureString $passphrase -AsPlainText -Force
        $repo = New-TestFolder -Prefix 'pgbackup-scan-enc'
        $log = Join-Path $repo 'audit.jsonl'
        $scan = [PgBackup.TestSupport.ChildProcessScan]::Start()
        try {
            $verbose = & {
                $backup = New-PgBackup -Database scanned -Repository $repo -EncryptionPassphrase $secure -Verify @script:Connection -LogPath $log -Verbose -ErrorAction Stop
                $backup.Encrypted | Should -BeTrue
                # The variable is the other way in: Test-PgBackup and Restore-PgBackup read it.
                Invoke-WithEnvironment @{ PGBACKUP_ENCRYPTION_PASSPHRASE = $passphrase } {
                    ($backup | Test-PgBackup -Level Restore @script:Connection -LogPath $log -Verbose -ErrorAction Stop).Passed | Should -BeTrue
                    $null = $backup | Restore-PgBackup -TargetDatabase 'scanned_enc_copy' -Force @script:Connection -LogPath $log -Verbose -ErrorAction Stop
                }
                $null = $backup | Test-PgBackup -Level Structure -EncryptionPassphrase (ConvertTo-SecureString "$passphrase-wrong" -AsPlainText -Force) -LogPath $log -Verbose -ErrorAction SilentlyContinue
            } 4>&1 2>&1
        }
        finally {
            $seen = $scan.Stop()
            $scan.Dispose()
        }

        $scan.Rounds | Should -BeGreaterThan 5
        @($seen | ForEach-Object Name) | Should -Contain 'pg_restore'
        foreach ($child in $seen) {
            foreach ($text in @($child.Arguments) + @($child.Environment)) {
                $text.Contains($passphrase) | Should -BeFalse -Because "$($child.Name) (pid $($child.Pid)) must not hold the passphrase"
            }
        }
        @($verbose).Count | Should -BeGreaterThan 3
        ($verbose | Out-String).Contains($passphrase) | Should -BeFalse -Because 'verbose output and errors must not hold the passphrase'
        $manifests = @(Get-ChildItem $repo -Recurse -Filter '*.manifest.json')
        $manifests.Count | Should -Be 1
        (Get-Content -Raw $manifests[0].FullName).Contains($passphrase) | Should -BeFalse
        $audit = Get-Content -Raw $log
        @(Get-Content $log).Count | Should -Be 4
        $audit.Contains($passphrase) | Should -BeFalse -Because 'the audit log must not hold the passphrase'
        # Nothing PgBackup wrote anywhere in the repository holds it.
        foreach ($file in Get-ChildItem $repo -Recurse -File) {
            [Text.Encoding]::UTF8.GetString([IO.File]::ReadAllBytes($file.FullName)).Contains($passphrase) | Should -BeFalse -Because $file.Name
        }
    }
}
