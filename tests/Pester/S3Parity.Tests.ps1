# Every cmdlet on an S3 repository (a real S3 API: s3rver, started here) as on a local folder.
# Objects are checked by the SHA-256 of what s3rver stores, never trusted from a 200. No
# AWS_ENDPOINT_URL* variable is set: piped BackupInfo objects must find their endpoint themselves.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-PgBackupModulePath) -Force
    $script:S3 = Start-TestS3rver
    $script:SavedEndpoints = @{}
    foreach ($name in 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL') {
        $script:SavedEndpoints[$name] = [Environment]::GetEnvironmentVariable($name)
        Set-ProcessVariable $name $null
    }
    $script:Cluster = Start-TestCluster
    $script:Database = 's3_parity_' + [guid]::NewGuid().ToString('N').Substring(0, 8)
    $script:Cluster.CreateNorthwind($script:Database)
    $script:ConnectionString = "postgresql://postgres@127.0.0.1:$($script:Cluster.Port)/postgres"

    function New-Prefix([string] $Name) { "$Name-$([guid]::NewGuid().ToString('N').Substring(0, 8))" }
    function Get-S3Uri([string] $Prefix) { "s3://$($script:S3.Bucket)/$Prefix" }

    function Get-StoredSha256([string] $ObjectKey) { $script:S3.StoredObjectSha256($ObjectKey) }

    function Get-S3Keys([string] $Prefix) { Get-TestS3Keys -Server $script:S3 -Prefix $Prefix }

    function Set-FlippedByte([PgBackup.BackupInfo] $Backup) {
        # Overwrites the stored object through the S3 API with a copy that has one byte flipped.
        $key = $Backup.Location.Substring("s3://$($script:S3.Bucket)/".Length)
        $bytes = [IO.File]::ReadAllBytes($script:S3.StoredObjectPath($key))
        [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($bytes)).ToLowerInvariant() | Should -Be $Backup.Sha256
        $bytes[[int]($bytes.Length / 2)] = $bytes[[int]($bytes.Length / 2)] -bxor 1
        Write-TestS3Object -Server $script:S3 -Key $key -Bytes $bytes
        $corrupted = [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($bytes)).ToLowerInvariant()
        Get-StoredSha256 $key | Should -Be $corrupted
        $corrupted
    }

    function New-S3Backup([string] $Prefix) {
        $backup = New-PgBackup -Database $script:Database -ConnectionString $script:ConnectionString -Repository (Get-S3Uri $Prefix) `
            -S3Endpoint $script:S3.Endpoint -RowCounts -ErrorAction Stop
        Get-StoredSha256 "$Prefix/$($backup.ArtifactKey)" | Should -Be $backup.Sha256
        $backup
    }

    function Get-Databases { @($script:Cluster.ListDatabasesAsync().GetAwaiter().GetResult()) }

    function Get-RowCounts([string] $Database) {
        ($script:Cluster.RowCountsAsync($Database).GetAwaiter().GetResult().GetEnumerator() | ForEach-Object { "$($_.Key)=$($_.Value)" }) -join ';'
    }

    function Write-SyntheticBackups([string] $Location, [object[]] $Plan) {
        # The same committed backups in any repository, written as a commit writes them: artifact, then manifest.
        $s3 = if ($Location.StartsWith('s3://')) { $script:S3 }
        foreach ($item in $Plan) {
            New-TestBackupObjects -Database $item.Database -StartedAt $item.StartedAt -Hex $item.Hex -Status $item.Status |
                Write-TestBackupObjects -Repository $Location -S3Server $s3
        }
    }

    function New-SyntheticPlan {
        # 20 days of shop backups (a Failed attempt every fifth day) and 6 of crm, ending yesterday.
        $today = [datetime]::UtcNow.Date
        @(1..20 | ForEach-Object { [pscustomobject]@{ Database = 'shop'; StartedAt = $today.AddDays(-$_).AddHours(1); Hex = '{0:x4}' -f $_; Status = 'Succeeded' } }) +
        @(5, 10, 15 | ForEach-Object { [pscustomobject]@{ Database = 'shop'; StartedAt = $today.AddDays(-$_).AddHours(2); Hex = '{0:x4}' -f (100 + $_); Status = 'Failed' } }) +
        @(1..6 | ForEach-Object { [pscustomobject]@{ Database = 'crm'; StartedAt = $today.AddDays(-3 * $_).AddHours(3); Hex = '{0:x4}' -f (200 + $_); Status = 'Succeeded' } })
    }
}

AfterAll {
    foreach ($entry in $script:SavedEndpoints.GetEnumerator()) { Set-ProcessVariable $entry.Key $entry.Value }
    Stop-TestS3rver $script:S3
    if ($script:Cluster) { $script:Cluster.Dispose() }
}

Describe 'S3 parity: Test-PgBackup' {
    It 'New-PgBackup -Repository s3://… | Test-PgBackup -Level Restore passes in one pipeline, without -S3Endpoint on Test-PgBackup' {
        $prefix = New-Prefix 'test'
        $result = New-PgBackup -Database $script:Database -ConnectionString $script:ConnectionString -Repository (Get-S3Uri $prefix) `
            -S3Endpoint $script:S3.Endpoint -RowCounts -ErrorAction Stop |
            Test-PgBackup -Level Restore -ConnectionString $script:ConnectionString -ErrorAction Stop

        $result.PSObject.TypeNames[0] | Should -Be 'PgBackup.TestResult'
        $result.Passed | Should -BeTrue
        $result.Level | Should -Be 'Restore'
        $result.Backup.Repository | Should -Be (Get-S3Uri $prefix)
        ($result.Checks | Where-Object Name -EQ 'Row counts').Detail | Should -Match '14 tables'
        Get-StoredSha256 "$prefix/$($result.Backup.ArtifactKey)" | Should -Be $result.Backup.Sha256
        @(Get-Databases | Where-Object { $_ -like 'pgbackup_verify_*' }) | Should -BeNullOrEmpty
    }

    It 'passes the Checksum and Structure levels for a backup read back with Get-PgBackupInfo' {
        $prefix = New-Prefix 'levels'
        $null = New-S3Backup $prefix
        foreach ($level in 'Checksum', 'Structure') {
            $result = Get-PgBackupInfo -Repository (Get-S3Uri $prefix) -S3Endpoint $script:S3.Endpoint -Latest | Test-PgBackup -Level $level -ErrorAction Stop
            $result.Passed | Should -BeTrue
            $result.Level | Should -Be $level
        }
    }

    It 'New-PgBackup -Verify tests what it just streamed into S3 at the Structure level' {
        $prefix = New-Prefix 'verify'
        $errors = $null
        $output = New-PgBackup -Database $script:Database -ConnectionString $script:ConnectionString -Repository (Get-S3Uri $prefix) `
            -S3Endpoint $script:S3.Endpoint -Verify -Verbose -ErrorVariable errors 4>&1
        $backup = @($output | Where-Object { $_ -is [PgBackup.BackupInfo] })
        $verbose = @($output | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message)

        $errors.Count | Should -Be 0
        $backup.Count | Should -Be 1
        Get-StoredSha256 "$prefix/$($backup[0].ArtifactKey)" | Should -Be $backup[0].Sha256
        $verbose | Should -Contain "Testing $($backup[0].Id) (Custom, $($backup[0].SizeBytes.ToString('N0')) bytes) at level Structure: $($backup[0].Location)"
        @($verbose | Where-Object { $_ -like 'SHA-256: passed*' }).Count | Should -Be 1
        @($verbose | Where-Object { $_ -like 'Table of contents: passed*' }).Count | Should -Be 1
    }

    It 'fails the Checksum level with BackupTestFailed when the stored S3 object has a flipped byte' {
        $backup = New-S3Backup (New-Prefix 'flipped')
        $corrupted = Set-FlippedByte $backup

        $failures = $null
        $result = $backup | Test-PgBackup -Level Checksum -ErrorAction SilentlyContinue -ErrorVariable failures

        $result.Passed | Should -BeFalse
        ($result.Checks | Where-Object Name -EQ 'SHA-256').Detail | Should -Be "expected sha256 $($backup.Sha256) (manifest), actual sha256 $corrupted"
        $failures.Count | Should -Be 1
        $failures[0].FullyQualifiedErrorId | Should -Be 'BackupTestFailed,PgBackup.Commands.TestPgBackupCommand'
        { $backup | Test-PgBackup -Level Checksum -ErrorAction Stop } | Should -Throw -ErrorId 'BackupTestFailed,PgBackup.Commands.TestPgBackupCommand'
    }
}

Describe 'S3 parity: Restore-PgBackup' {
    It 'Get-PgBackupInfo -S3Endpoint … -Latest | Restore-PgBackup -Force restores without -S3Endpoint or AWS_ENDPOINT_URL*' {
        $prefix = New-Prefix 'restore'
        $backup = New-S3Backup $prefix
        $target = 's3_pipeline_' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $env:AWS_ENDPOINT_URL_S3 | Should -BeNullOrEmpty
        $env:AWS_ENDPOINT_URL | Should -BeNullOrEmpty

        $result = Get-PgBackupInfo -Repository (Get-S3Uri $prefix) -S3Endpoint $script:S3.Endpoint -Latest |
            Restore-PgBackup -TargetDatabase $target -ConnectionString $script:ConnectionString -Force -ErrorAction Stop

        $result.PSObject.TypeNames[0] | Should -Be 'PgBackup.RestoreResult'
        $result.TargetDatabase | Should -Be $target
        $result.Replaced | Should -BeFalse
        $result.Backup.Id | Should -Be $backup.Id
        Get-RowCounts $target | Should -Be (Get-RowCounts $script:Database)
        (Get-RowCounts $target).Split(';').Count | Should -Be 14
    }

    It 'restores from S3 with -Jobs 2' {
        $backup = New-S3Backup (New-Prefix 'jobs')
        $target = 's3_jobs_' + [guid]::NewGuid().ToString('N').Substring(0, 8)

        $result = $backup | Restore-PgBackup -TargetDatabase $target -Jobs 2 -ConnectionString $script:ConnectionString -Force -ErrorAction Stop

        $result.TargetDatabase | Should -Be $target
        Get-RowCounts $target | Should -Be (Get-RowCounts $script:Database)
    }

    It 'tests and restores by -Path (artifact and manifest s3:// URIs) with -S3Endpoint' {
        $backup = New-S3Backup (New-Prefix 'bypath')
        $target = 's3_bypath_' + [guid]::NewGuid().ToString('N').Substring(0, 8)

        $tested = Test-PgBackup -Path $backup.Location -S3Endpoint $script:S3.Endpoint -Level Structure -ErrorAction Stop
        $restored = Restore-PgBackup -Path $backup.ManifestLocation -S3Endpoint $script:S3.Endpoint -TargetDatabase $target `
            -ConnectionString $script:ConnectionString -Force -ErrorAction Stop

        $tested.Passed | Should -BeTrue
        $tested.Backup.Id | Should -Be $backup.Id
        $restored.Backup.Id | Should -Be $backup.Id
        Get-RowCounts $target | Should -Be (Get-RowCounts $script:Database)
    }

    It 'backs up, tests and restores a database with a hostile name through S3' {
        $hostile = "S3 Tëst ""quoted""; 'x' " + [guid]::NewGuid().ToString('N').Substring(0, 6)
        $script:Cluster.CreateDatabase($hostile)
        $null = $script:Cluster.Psql($hostile, 'CREATE TABLE "odd table" (id int PRIMARY KEY); INSERT INTO "odd table" SELECT generate_series(1, 42);')
        $prefix = New-Prefix 'hostile'
        $target = "$hostile restored"

        $backup = New-PgBackup -Database $hostile -ConnectionString $script:ConnectionString -Repository (Get-S3Uri $prefix) -S3Endpoint $script:S3.Endpoint -RowCounts -ErrorAction Stop
        $tested = $backup | Test-PgBackup -Level Restore -ConnectionString $script:ConnectionString -ErrorAction Stop
        $restored = Get-PgBackupInfo -Repository (Get-S3Uri $prefix) -S3Endpoint $script:S3.Endpoint -Database 'S3 Tëst*' -Latest |
            Restore-PgBackup -TargetDatabase $target -ConnectionString $script:ConnectionString -Force -ErrorAction Stop

        Get-StoredSha256 "$prefix/$($backup.ArtifactKey)" | Should -Be $backup.Sha256
        $tested.Passed | Should -BeTrue
        $restored.Backup.Id | Should -Be $backup.Id
        $restored.TargetDatabase | Should -Be $target
        Get-RowCounts $target | Should -Be (Get-RowCounts $hostile)
    }

    It 'refuses a corrupt S3 object with BackupCorrupt before creating anything on the server' {
        $backup = New-S3Backup (New-Prefix 'corrupt')
        $null = Set-FlippedByte $backup
        $before = Get-Databases
        $target = 's3_never_' + [guid]::NewGuid().ToString('N').Substring(0, 8)

        { $backup | Restore-PgBackup -TargetDatabase $target -ConnectionString $script:ConnectionString -Force -ErrorAction Stop } |
            Should -Throw -ErrorId 'BackupCorrupt,PgBackup.Commands.RestorePgBackupCommand'

        Get-Databases | Should -Be $before
    }
}

Describe 'S3 parity: Remove-PgBackupExpired' {
    It 'removes the same backup Ids from a local folder and an s3rver repository holding the same manifests; -WhatIf on S3 removes nothing' {
        $local = New-TestFolder -Prefix 'pgbackup-s3parity'
        $prefix = New-Prefix 'retention'
        $s3 = Get-S3Uri $prefix
        $plan = New-SyntheticPlan
        Write-SyntheticBackups -Location $local -Plan $plan
        Write-SyntheticBackups -Location $s3 -Plan $plan
        $keysBefore = Get-S3Keys $prefix
        $keysBefore.Count | Should -Be (20 * 2 + 3 + 6 * 2)
        foreach ($key in $keysBefore | Where-Object { $_ -notlike '*.manifest.json' }) {
            Get-StoredSha256 $key | Should -Be (Get-FileHash -Algorithm SHA256 -Path (Join-Path $local $key.Substring($prefix.Length + 1))).Hash.ToLowerInvariant()
        }
        $policy = @{ KeepDaily = 5; KeepWeekly = 2; Utc = $true; Confirm = $false }

        $whatIf = Remove-PgBackupExpired -Repository $s3 -S3Endpoint $script:S3.Endpoint @policy -PassThru -WhatIf -ErrorAction Stop
        $whatIf | Should -BeNullOrEmpty
        Get-S3Keys $prefix | Should -Be $keysBefore

        $fromLocal = @(Remove-PgBackupExpired -Repository $local @policy -PassThru -ErrorAction Stop)
        $fromS3 = @(Remove-PgBackupExpired -Repository $s3 -S3Endpoint $script:S3.Endpoint @policy -PassThru -ErrorAction Stop)

        $fromLocal.Count | Should -BeGreaterThan 0
        @($fromS3.Id | Sort-Object) | Should -Be @($fromLocal.Id | Sort-Object)
        @((Get-PgBackupInfo -Repository $s3 -S3Endpoint $script:S3.Endpoint).Id | Sort-Object) | Should -Be @((Get-PgBackupInfo -Repository $local).Id | Sort-Object)
        $keysAfter = Get-S3Keys $prefix
        foreach ($removed in $fromS3) {
            $keysAfter | Should -Not -Contain "$prefix/$($removed.ManifestKey)"
            if ($removed.ArtifactKey) { $keysAfter | Should -Not -Contain "$prefix/$($removed.ArtifactKey)" }
        }
        Remove-Item $local -Recurse -Force
    }

    It 'Get-PgBackupInfo -Repository s3://… | Remove-PgBackupExpired -KeepLast 1 works through the pipeline' {
        $prefix = New-Prefix 'piped'
        $s3 = Get-S3Uri $prefix
        $plan = @(New-SyntheticPlan | Where-Object Database -EQ 'crm')
        Write-SyntheticBackups -Location $s3 -Plan $plan
        $newest = Get-PgBackupInfo -Repository $s3 -S3Endpoint $script:S3.Endpoint -Latest

        $removed = @(Get-PgBackupInfo -Repository $s3 -S3Endpoint $script:S3.Endpoint | Remove-PgBackupExpired -KeepLast 1 -PassThru -Confirm:$false -ErrorAction Stop)

        $removed.Count | Should -Be 5
        $removed.Id | Should -Not -Contain $newest.Id
        Get-S3Keys $prefix | Should -Be @("$prefix/$($newest.ArtifactKey)", "$prefix/$($newest.ManifestKey)" | Sort-Object)
    }
}

Describe 'S3 parity: failed backups' {
    It 'a failed New-PgBackup leaves a Failed manifest that -Status Failed and -Summary see, and no artifact object' {
        $prefix = New-Prefix 'failed'
        $s3 = Get-S3Uri $prefix
        $missing = 'no_such_db_' + [guid]::NewGuid().ToString('N').Substring(0, 8)

        $errors = $null
        $result = New-PgBackup -Database $missing -ConnectionString $script:ConnectionString -Repository $s3 -S3Endpoint $script:S3.Endpoint `
            -ErrorAction SilentlyContinue -ErrorVariable errors

        $result | Should -BeNullOrEmpty
        $errors.Count | Should -Be 1
        $errors[0].FullyQualifiedErrorId | Should -Be 'DatabaseNotFound,PgBackup.Commands.NewPgBackupCommand'
        $keys = @(Get-S3Keys $prefix)
        $keys.Count | Should -Be 1
        $keys[0] | Should -BeLike '*.manifest.json'

        $failed = @(Get-PgBackupInfo -Repository $s3 -S3Endpoint $script:S3.Endpoint -Status Failed -ErrorAction Stop)
        $failed.Count | Should -Be 1
        $failed[0].Database | Should -Be $missing
        $failed[0].Status | Should -Be 'Failed'
        $failed[0].Error | Should -Not -BeNullOrEmpty
        $failed[0].Location | Should -BeNullOrEmpty
        @(Get-PgBackupInfo -Repository $s3 -S3Endpoint $script:S3.Endpoint -Status Succeeded -ErrorAction Stop) | Should -BeNullOrEmpty

        $summary = Get-PgBackupInfo -Repository $s3 -S3Endpoint $script:S3.Endpoint -Summary -ErrorAction Stop
        $summary.PSObject.TypeNames[0] | Should -Be 'PgBackup.BackupSummary'
        $summary.Database | Should -Be $missing
        $summary.Count | Should -Be 1
        $summary.FailedCount | Should -Be 1
        $summary.SucceededCount | Should -Be 0
        $summary.SuccessRate | Should -Be 0
        $summary.LastSucceededAt | Should -BeNullOrEmpty
    }
}
