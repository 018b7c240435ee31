# Every cmdlet on an object-store repository as on a local folder, for each store: S3 (s3rver) and Azure
# Blob Storage (Azurite), both started here. Objects are checked by the SHA-256 of what the server stores,
# never trusted from a 2xx. No AWS_ENDPOINT_URL* variable is set: piped BackupInfo objects must find
# their S3 endpoint themselves (Azure URLs name theirs; az:// is covered in Azure.Tests.ps1).
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-PgBackupModulePath) -Force
    $script:S3 = Start-TestS3rver
    $script:Azurite = Start-TestAzurite
    $script:AzureContainer = [PgBackup.TestSupport.AzuriteServer]::DefaultContainer
    $script:SavedEndpoints = Set-ProcessVariables @{ AWS_ENDPOINT_URL_S3 = $null; AWS_ENDPOINT_URL = $null }
    $script:Cluster = Start-TestCluster
    $script:Database = 'store_parity_' + [guid]::NewGuid().ToString('N').Substring(0, 8)
    $script:Cluster.CreateNorthwind($script:Database)
    $script:ConnectionString = "postgresql://postgres@127.0.0.1:$($script:Cluster.Port)/postgres"

    function New-Prefix([string] $Name) { "$Name-$([guid]::NewGuid().ToString('N').Substring(0, 8))" }

    # The store the current Describe runs on ('s3' or 'azure'), set by its BeforeAll.
    function Get-StoreRoot {
        if ($script:Store -eq 's3') { "s3://$($script:S3.Bucket)/" } else { "$($script:Azurite.ServiceEndpoint)/$($script:AzureContainer)/" }
    }

    function Get-StoreUri([string] $Prefix) { (Get-StoreRoot) + $Prefix }

    # What the cmdlets that name a repository need besides it: S3's endpoint; nothing for an Azure URL.
    function Get-EndpointArgs { if ($script:Store -eq 's3') { @{ S3Endpoint = $script:S3.Endpoint } } else { @{} } }

    function Get-StoredBytes([string] $ObjectKey) {
        # What the server really holds: s3rver's file, or Azurite's blob read through its REST API.
        if ($script:Store -eq 's3') { [IO.File]::ReadAllBytes($script:S3.StoredObjectPath($ObjectKey)) }
        else { $script:Azurite.GetBlob($script:AzureContainer, $ObjectKey) }
    }

    function Get-StoredSha256([string] $ObjectKey) {
        if ($script:Store -eq 's3') { $script:S3.StoredObjectSha256($ObjectKey) }
        else { $script:Azurite.StoredSha256($script:AzureContainer, $ObjectKey) }
    }

    function Set-StoredBytes([string] $ObjectKey, [byte[]] $Bytes) {
        if ($script:Store -eq 's3') { Write-TestS3Object -Server $script:S3 -Key $ObjectKey -Bytes $Bytes }
        else { $script:Azurite.PutBlob($script:AzureContainer, $ObjectKey, $Bytes) }
    }

    function Get-StoreKeys([string] $Prefix) {
        if ($script:Store -eq 's3') { Get-TestS3Keys -Server $script:S3 -Prefix $Prefix }
        else { @($script:Azurite.ListBlobNames($script:AzureContainer, "$Prefix/")) }
    }

    function Set-FlippedByte([PgBackup.BackupInfo] $Backup) {
        # Overwrites the stored object through the store's API with a copy that has one byte flipped.
        $key = $Backup.Location.Substring((Get-StoreRoot).Length)
        $bytes = [byte[]](Get-StoredBytes $key)
        [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($bytes)).ToLowerInvariant() | Should -Be $Backup.Sha256
        $bytes[[int]($bytes.Length / 2)] = $bytes[[int]($bytes.Length / 2)] -bxor 1
        Set-StoredBytes $key $bytes
        $corrupted = [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($bytes)).ToLowerInvariant()
        Get-StoredSha256 $key | Should -Be $corrupted
        $corrupted
    }

    function New-StoreBackup([string] $Prefix) {
        $endpoint = Get-EndpointArgs
        $backup = New-PgBackup -Database $script:Database -ConnectionString $script:ConnectionString -Repository (Get-StoreUri $Prefix) `
            @endpoint -RowCounts -ErrorAction Stop
        Get-StoredSha256 "$Prefix/$($backup.ArtifactKey)" | Should -Be $backup.Sha256
        $backup
    }

    function Get-Databases { @($script:Cluster.ListDatabasesAsync().GetAwaiter().GetResult()) }

    function Get-RowCounts([string] $Database) {
        ($script:Cluster.RowCountsAsync($Database).GetAwaiter().GetResult().GetEnumerator() | ForEach-Object { "$($_.Key)=$($_.Value)" }) -join ';'
    }

    function Write-SyntheticBackups([string] $Location, [object[]] $Plan) {
        # The same committed backups in any repository, written as a commit writes them: artifact, then manifest.
        foreach ($item in $Plan) {
            New-TestBackupObjects -Database $item.Database -StartedAt $item.StartedAt -Hex $item.Hex -Status $item.Status |
                Write-TestBackupObjects -Repository $Location -S3Server $script:S3 -AzureServer $script:Azurite
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
    Restore-ProcessVariables $script:SavedEndpoints
    Stop-TestS3rver $script:S3
    Stop-TestAzurite $script:Azurite
    if ($script:Cluster) { $script:Cluster.Dispose() }
}

Describe 'Store parity (<Store>): Test-PgBackup' -ForEach @(@{ Store = 's3' }, @{ Store = 'azure' }) {
    BeforeAll { $script:Store = $Store }

    It 'New-PgBackup -Repository <store> | Test-PgBackup -Level Restore passes in one pipeline, without -S3Endpoint on Test-PgBackup' {
        $endpoint = Get-EndpointArgs
        $prefix = New-Prefix 'test'
        $result = New-PgBackup -Database $script:Database -ConnectionString $script:ConnectionString -Repository (Get-StoreUri $prefix) `
            @endpoint -RowCounts -ErrorAction Stop |
            Test-PgBackup -Level Restore -ConnectionString $script:ConnectionString -ErrorAction Stop

        $result.PSObject.TypeNames[0] | Should -Be 'PgBackup.TestResult'
        $result.Passed | Should -BeTrue
        $result.Level | Should -Be 'Restore'
        $result.Backup.Repository | Should -Be (Get-StoreUri $prefix)
        ($result.Checks | Where-Object Name -EQ 'Row counts').Detail | Should -Match '14 tables'
        Get-StoredSha256 "$prefix/$($result.Backup.ArtifactKey)" | Should -Be $result.Backup.Sha256
        @(Get-Databases | Where-Object { $_ -like 'pgbackup_verify_*' }) | Should -BeNullOrEmpty
    }

    It 'passes the Checksum and Structure levels for a backup read back with Get-PgBackupInfo' {
        $endpoint = Get-EndpointArgs
        $prefix = New-Prefix 'levels'
        $null = New-StoreBackup $prefix
        foreach ($level in 'Checksum', 'Structure') {
            $result = Get-PgBackupInfo -Repository (Get-StoreUri $prefix) @endpoint -Latest | Test-PgBackup -Level $level -ErrorAction Stop
            $result.Passed | Should -BeTrue
            $result.Level | Should -Be $level
        }
    }

    It 'New-PgBackup -Verify tests what it just streamed into the store at the Structure level' {
        $endpoint = Get-EndpointArgs
        $prefix = New-Prefix 'verify'
        $errors = $null
        $output = New-PgBackup -Database $script:Database -ConnectionString $script:ConnectionString -Repository (Get-StoreUri $prefix) `
            @endpoint -Verify -Verbose -ErrorVariable errors 4>&1
        $backup = @($output | Where-Object { $_ -is [PgBackup.BackupInfo] })
        $verbose = @($output | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | ForEach-Object Message)

        $errors.Count | Should -Be 0
        $backup.Count | Should -Be 1
        Get-StoredSha256 "$prefix/$($backup[0].ArtifactKey)" | Should -Be $backup[0].Sha256
        $verbose | Should -Contain "Testing $($backup[0].Id) (Custom, $($backup[0].SizeBytes.ToString('N0')) bytes) at level Structure: $($backup[0].Location)"
        @($verbose | Where-Object { $_ -like 'SHA-256: passed*' }).Count | Should -Be 1
        @($verbose | Where-Object { $_ -like 'Table of contents: passed*' }).Count | Should -Be 1
    }

    It 'fails the Checksum level with BackupTestFailed when the stored object has a flipped byte' {
        $backup = New-StoreBackup (New-Prefix 'flipped')
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

Describe 'Store parity (<Store>): Restore-PgBackup' -ForEach @(@{ Store = 's3' }, @{ Store = 'azure' }) {
    BeforeAll { $script:Store = $Store }

    It 'Get-PgBackupInfo … -Latest | Restore-PgBackup -Force restores without -S3Endpoint or AWS_ENDPOINT_URL*' {
        $endpoint = Get-EndpointArgs
        $prefix = New-Prefix 'restore'
        $backup = New-StoreBackup $prefix
        $target = 's3_pipeline_' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $env:AWS_ENDPOINT_URL_S3 | Should -BeNullOrEmpty
        $env:AWS_ENDPOINT_URL | Should -BeNullOrEmpty

        $result = Get-PgBackupInfo -Repository (Get-StoreUri $prefix) @endpoint -Latest |
            Restore-PgBackup -TargetDatabase $target -ConnectionString $script:ConnectionString -Force -ErrorAction Stop

        $result.PSObject.TypeNames[0] | Should -Be 'PgBackup.RestoreResult'
        $result.TargetDatabase | Should -Be $target
        $result.Replaced | Should -BeFalse
        $result.Backup.Id | Should -Be $backup.Id
        Get-RowCounts $target | Should -Be (Get-RowCounts $script:Database)
        (Get-RowCounts $target).Split(';').Count | Should -Be 14
    }

    It 'restores with -Jobs 2' {
        $backup = New-StoreBackup (New-Prefix 'jobs')
        $target = 's3_jobs_' + [guid]::NewGuid().ToString('N').Substring(0, 8)

        $result = $backup | Restore-PgBackup -TargetDatabase $target -Jobs 2 -ConnectionString $script:ConnectionString -Force -ErrorAction Stop

        $result.TargetDatabase | Should -Be $target
        Get-RowCounts $target | Should -Be (Get-RowCounts $script:Database)
    }

    It 'tests and restores by -Path (artifact and manifest URIs)' {
        $endpoint = Get-EndpointArgs
        $backup = New-StoreBackup (New-Prefix 'bypath')
        $target = 's3_bypath_' + [guid]::NewGuid().ToString('N').Substring(0, 8)

        $tested = Test-PgBackup -Path $backup.Location @endpoint -Level Structure -ErrorAction Stop
        $restored = Restore-PgBackup -Path $backup.ManifestLocation @endpoint -TargetDatabase $target `
            -ConnectionString $script:ConnectionString -Force -ErrorAction Stop

        $tested.Passed | Should -BeTrue
        $tested.Backup.Id | Should -Be $backup.Id
        $restored.Backup.Id | Should -Be $backup.Id
        Get-RowCounts $target | Should -Be (Get-RowCounts $script:Database)
    }

    It 'backs up, tests and restores a database with a hostile name' {
        $endpoint = Get-EndpointArgs
        $hostile = "Store Tëst ""quoted""; 'x' " + [guid]::NewGuid().ToString('N').Substring(0, 6)
        $script:Cluster.CreateDatabase($hostile)
        $null = $script:Cluster.Psql($hostile, 'CREATE TABLE "odd table" (id int PRIMARY KEY); INSERT INTO "odd table" SELECT generate_series(1, 42);')
        $prefix = New-Prefix 'hostile'
        $target = "$hostile restored"

        $backup = New-PgBackup -Database $hostile -ConnectionString $script:ConnectionString -Repository (Get-StoreUri $prefix) @endpoint -RowCounts -ErrorAction Stop
        $tested = $backup | Test-PgBackup -Level Restore -ConnectionString $script:ConnectionString -ErrorAction Stop
        $restored = Get-PgBackupInfo -Repository (Get-StoreUri $prefix) @endpoint -Database 'Store Tëst*' -Latest |
            Restore-PgBackup -TargetDatabase $target -ConnectionString $script:ConnectionString -Force -ErrorAction Stop

        Get-StoredSha256 "$prefix/$($backup.ArtifactKey)" | Should -Be $backup.Sha256
        $tested.Passed | Should -BeTrue
        $restored.Backup.Id | Should -Be $backup.Id
        $restored.TargetDatabase | Should -Be $target
        Get-RowCounts $target | Should -Be (Get-RowCounts $hostile)
    }

    It 'refuses a corrupt stored object with BackupCorrupt before creating anything on the server' {
        $backup = New-StoreBackup (New-Prefix 'corrupt')
        $null = Set-FlippedByte $backup
        $before = Get-Databases
        $target = 's3_never_' + [guid]::NewGuid().ToString('N').Substring(0, 8)

        { $backup | Restore-PgBackup -TargetDatabase $target -ConnectionString $script:ConnectionString -Force -ErrorAction Stop } |
            Should -Throw -ErrorId 'BackupCorrupt,PgBackup.Commands.RestorePgBackupCommand'

        Get-Databases | Should -Be $before
    }
}

Describe 'Store parity (<Store>): Remove-PgBackupExpired' -ForEach @(@{ Store = 's3' }, @{ Store = 'azure' }) {
    BeforeAll { $script:Store = $Store }

    It 'removes the same backup Ids from a local folder and a <Store> repository holding the same manifests; -WhatIf removes nothing' {
        $endpoint = Get-EndpointArgs
        $local = New-TestFolder -Prefix 'pgbackup-s3parity'
        $prefix = New-Prefix 'retention'
        $remote = Get-StoreUri $prefix
        $plan = New-SyntheticPlan
        Write-SyntheticBackups -Location $local -Plan $plan
        Write-SyntheticBackups -Location $remote -Plan $plan
        $keysBefore = Get-StoreKeys $prefix
        $keysBefore.Count | Should -Be (20 * 2 + 3 + 6 * 2)
        foreach ($key in $keysBefore | Where-Object { $_ -notlike '*.manifest.json' }) {
            Get-StoredSha256 $key | Should -Be (Get-FileHash -Algorithm SHA256 -Path (Join-Path $local $key.Substring($prefix.Length + 1))).Hash.ToLowerInvariant()
        }
        $policy = @{ KeepDaily = 5; KeepWeekly = 2; Utc = $true; Confirm = $false }

        $whatIf = Remove-PgBackupExpired -Repository $remote @endpoint @policy -PassThru -WhatIf -ErrorAction Stop
        $whatIf | Should -BeNullOrEmpty
        Get-StoreKeys $prefix | Should -Be $keysBefore

        $fromLocal = @(Remove-PgBackupExpired -Repository $local @policy -PassThru -ErrorAction Stop)
        $fromStore = @(Remove-PgBackupExpired -Repository $remote @endpoint @policy -PassThru -ErrorAction Stop)

        $fromLocal.Count | Should -BeGreaterThan 0
        @($fromStore.Id | Sort-Object) | Should -Be @($fromLocal.Id | Sort-Object)
        @((Get-PgBackupInfo -Repository $remote @endpoint).Id | Sort-Object) | Should -Be @((Get-PgBackupInfo -Repository $local).Id | Sort-Object)
        $keysAfter = Get-StoreKeys $prefix
        foreach ($removed in $fromStore) {
            $keysAfter | Should -Not -Contain "$prefix/$($removed.ManifestKey)"
            if ($removed.ArtifactKey) { $keysAfter | Should -Not -Contain "$prefix/$($removed.ArtifactKey)" }
        }
        Remove-Item $local -Recurse -Force
    }

    It 'Get-PgBackupInfo -Repository <store> | Remove-PgBackupExpired -KeepLast 1 works through the pipeline' {
        $endpoint = Get-EndpointArgs
        $prefix = New-Prefix 'piped'
        $remote = Get-StoreUri $prefix
        $plan = @(New-SyntheticPlan | Where-Object Database -EQ 'crm')
        Write-SyntheticBackups -Location $remote -Plan $plan
        $newest = Get-PgBackupInfo -Repository $remote @endpoint -Latest

        $removed = @(Get-PgBackupInfo -Repository $remote @endpoint | Remove-PgBackupExpired -KeepLast 1 -PassThru -Confirm:$false -ErrorAction Stop)

        $removed.Count | Should -Be 5
        $removed.Id | Should -Not -Contain $newest.Id
        Get-StoreKeys $prefix | Should -Be @("$prefix/$($newest.ArtifactKey)", "$prefix/$($newest.ManifestKey)" | Sort-Object)
    }
}

Describe 'Store parity (<Store>): failed backups' -ForEach @(@{ Store = 's3' }, @{ Store = 'azure' }) {
    BeforeAll { $script:Store = $Store }

    It 'a failed New-PgBackup leaves a Failed manifest that -Status Failed and -Summary see, and no artifact object' {
        $endpoint = Get-EndpointArgs
        $prefix = New-Prefix 'failed'
        $remote = Get-StoreUri $prefix
        # A database that exists but takes no connections: past the pre-flight check (a name the server lacks would be a
        # mistake that writes nothing), the attempt itself fails and is recorded.
        $missing = 'closed_db_' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        $null = $script:Cluster.Psql('postgres', "CREATE DATABASE $missing ALLOW_CONNECTIONS false;")

        $errors = $null
        $result = New-PgBackup -Database $missing -ConnectionString $script:ConnectionString -Repository $remote @endpoint `
            -ErrorAction SilentlyContinue -ErrorVariable errors

        $result | Should -BeNullOrEmpty
        $errors.Count | Should -Be 1
        $errors[0].FullyQualifiedErrorId | Should -Be 'ConnectionFailed,PgBackup.Commands.NewPgBackupCommand'
        $keys = @(Get-StoreKeys $prefix)
        $keys.Count | Should -Be 1
        $keys[0] | Should -BeLike '*.manifest.json'

        $failed = @(Get-PgBackupInfo -Repository $remote @endpoint -Status Failed -ErrorAction Stop)
        $failed.Count | Should -Be 1
        $failed[0].Database | Should -Be $missing
        $failed[0].Status | Should -Be 'Failed'
        $failed[0].Error | Should -Not -BeNullOrEmpty
        $failed[0].Location | Should -BeNullOrEmpty
        @(Get-PgBackupInfo -Repository $remote @endpoint -Status Succeeded -ErrorAction Stop) | Should -BeNullOrEmpty

        $summary = Get-PgBackupInfo -Repository $remote @endpoint -Summary -ErrorAction Stop
        $summary.PSObject.TypeNames[0] | Should -Be 'PgBackup.BackupSummary'
        $summary.Database | Should -Be $missing
        $summary.Count | Should -Be 1
        $summary.FailedCount | Should -Be 1
        $summary.SucceededCount | Should -Be 0
        $summary.SuccessRate | Should -Be 0
        $summary.LastSucceededAt | Should -BeNullOrEmpty
    }
}
