# Issue 12 (whole-server backups) and issue 11 point 3 (selection that cannot misfire), against the built module and
# real throwaway clusters.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-PgBackupModulePath) -Force
    $script:Cluster = Start-TestCluster
    foreach ($name in 'shop', 'shop_eu', 'billing', 'tmp_scratch', 'tmp_load') { $script:Cluster.CreateDatabase($name) }
    $script:Cluster.Psql('shop', 'CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 50);') | Out-Null
    $script:Connection = @{ Server = $script:Cluster.Host; Port = $script:Cluster.Port; Credential = New-TestCredential }

    function Get-RepositoryState([string] $Path) {
        # Every file and folder, with the hash of every file's bytes: "unchanged" means this whole list is equal.
        if (-not (Test-Path $Path)) { return '<absent>' }
        @(Get-ChildItem -LiteralPath $Path -Recurse -Force | Sort-Object FullName | ForEach-Object {
                if ($_.PSIsContainer) { "d $($_.FullName)" } else { "f $($_.FullName) $((Get-FileHash -LiteralPath $_.FullName -Algorithm SHA256).Hash)" }
            }) -join "`n"
    }
}

AfterAll {
    if ($script:Cluster) { $script:Cluster.Dispose() }
}

Describe 'New-PgBackup database selection (issue 11.3)' {
    BeforeEach {
        $script:Repo = New-TestFolder
        # One backup already there: "unchanged" must also mean nothing was added next to it.
        $null = New-PgBackup -Database billing -Repository $script:Repo @script:Connection -ErrorAction Stop
    }
    AfterEach { Remove-Item $script:Repo -Recurse -Force -ErrorAction SilentlyContinue }

    It 'pre-flight mistake <Name> is <ErrorId> and leaves the repository byte-for-byte unchanged' -ForEach @(
        @{ Name = 'unknown database'; ErrorId = 'DatabaseNotFound'; Extra = @{ Database = 'nortwind' } }
        @{ Name = 'wildcard without a match'; ErrorId = 'NoDatabaseMatched'; Extra = @{ Database = 'north*' } }
        @{ Name = 'exclusion that leaves nothing'; ErrorId = 'NoDatabaseMatched'; Extra = @{ Database = 'shop*'; ExcludeDatabase = '*' } }
        @{ Name = 'invalid storage class'; ErrorId = 'InvalidStorageClass'; Extra = @{ Database = 'shop'; StorageClass = 'STANDARD_AI'; Repository = 's3://bucket/pg' } }
        @{ Name = 'malformed repository URI'; ErrorId = 'InvalidRepository'; Extra = @{ Database = 'shop'; Repository = 's3:/acme/pg' } }
        @{ Name = 'unparsable connection string'; ErrorId = 'InvalidConnectionString'; Extra = @{ Database = 'shop'; ConnectionString = 'just some words' } }
        @{ Name = 'invalid parameters'; ErrorId = 'AmbiguousParameterSet'; Extra = @{ Database = 'shop'; AllDatabases = $true } }
    ) {
        $before = Get-RepositoryState $script:Repo
        $splat = @{ Repository = $script:Repo } + $script:Connection
        foreach ($entry in $Extra.GetEnumerator()) { $splat[$entry.Key] = $entry.Value }
        if ($splat.ContainsKey('ConnectionString')) { $splat.Remove('Server'); $splat.Remove('Port'); $splat.Remove('Credential') }
        $failures = @()
        $thrown = $null
        # A terminating error lands in -ErrorVariable too: what counts is that one error, with its own id, was raised.
        try { $null = New-PgBackup @splat -ErrorVariable failures -ErrorAction SilentlyContinue }
        catch { $thrown = $_ }

        $ids = @(@($failures) + @($thrown) | Where-Object { $_ } | ForEach-Object FullyQualifiedErrorId | Select-Object -Unique)
        $ids.Count | Should -Be 1
        $ids[0] | Should -BeLike "$ErrorId,*"
        Get-RepositoryState $script:Repo | Should -Be $before
        # Nor a folder next to it (s3: taken for a relative folder name).
        Test-Path (Join-Path (Get-Location) 's3:') | Should -BeFalse
    }

    It 'expands wildcards against the server, in the server''s order, each database once' {
        $backups = New-PgBackup -Database 'shop*', 'shop' -Repository $script:Repo @script:Connection -ErrorAction Stop
        $backups.Database | Should -Be @('shop', 'shop_eu')
    }

    It 'binds Name, DatabaseName and datname by property name' {
        $backups = @([pscustomobject]@{ Name = 'shop' }, [pscustomobject]@{ DatabaseName = 'shop_eu' }, [pscustomobject]@{ datname = 'tmp_load' }) |
            New-PgBackup -Repository $script:Repo @script:Connection -ErrorAction Stop
        $backups.Database | Should -Be @('shop', 'shop_eu', 'tmp_load')
    }

    It 'takes every connectable non-template database with -AllDatabases, minus -ExcludeDatabase tmp*' {
        $script:Cluster.Psql('postgres', 'CREATE DATABASE closed; ALTER DATABASE closed ALLOW_CONNECTIONS false;') | Out-Null
        try {
            $backups = New-PgBackup -AllDatabases -ExcludeDatabase 'tmp*' -Repository $script:Repo @script:Connection -ErrorAction Stop
            $backups.Database | Should -Be @('billing', 'postgres', 'shop', 'shop_eu')
            $backups.Kind | Sort-Object -Unique | Should -Be 'Database'
        }
        finally { $script:Cluster.Psql('postgres', 'DROP DATABASE closed;') | Out-Null }
    }

    It 'writes a summary line to the information stream' {
        $null = New-PgBackup -Database 'shop*' -Repository $script:Repo @script:Connection -InformationVariable info -ErrorAction Stop
        $summary = @($info | Where-Object { $_.Tags -contains 'Summary' })
        $summary.Count | Should -Be 1
        "$($summary[0].MessageData)" | Should -Match '^New-PgBackup: 2 succeeded, 0 failed, .+ stored in \d\d:\d\d:\d\d\.$'
    }
}

Describe 'New-PgBackup -IncludeGlobals (issue 12)' {
    BeforeEach { $script:Repo = New-TestFolder }
    AfterEach { Remove-Item $script:Repo -Recurse -Force -ErrorAction SilentlyContinue }

    It '-IncludeGlobals alone backs up only the globals, as a Globals backup with the roles in it' {
        $script:Cluster.Psql('postgres', "CREATE ROLE pester_app LOGIN PASSWORD 'app-pw-1'; ALTER ROLE pester_app SET work_mem = '8MB';") | Out-Null
        try {
            $backups = @(New-PgBackup -IncludeGlobals -Compression None -Repository $script:Repo @script:Connection -ErrorAction Stop)
            $backups.Count | Should -Be 1
            $backups[0].Kind | Should -Be 'Globals'
            $backups[0].Database | Should -Be '(globals)'
            $backups[0].Format | Should -Be 'Plain'
            $backups[0].Id | Should -BeLike '~globals_*'
            $backups[0].Location | Should -BeLike '*.sql'
            $script = Get-Content -Raw $backups[0].Location
            $script | Should -Match 'CREATE ROLE pester_app'
            $script | Should -Match "ALTER ROLE pester_app SET work_mem TO '8MB'"
            # The password hash stays (that is what makes the role log in after a restore).
            $script | Should -Match "PASSWORD 'SCRAM-SHA-256"
            (Get-Content -Raw $backups[0].ManifestLocation | ConvertFrom-Json).schemaVersion | Should -Be 2
            @(Get-PgBackupInfo -Repository $script:Repo -Kind Globals).Id | Should -Be $backups[0].Id
            @(Get-PgBackupInfo -Repository $script:Repo -Kind Database) | Should -BeNullOrEmpty
        }
        finally { $script:Cluster.Psql('postgres', 'DROP ROLE pester_app;') | Out-Null }
    }

    It 'one failing database among several: the others are backed up, one error, a Failed manifest, and the script exits non-zero' {
        $script:Cluster.Psql('postgres', 'CREATE ROLE pester_reader LOGIN; GRANT pg_read_all_data TO pester_reader; REVOKE CONNECT ON DATABASE shop_eu FROM PUBLIC;') | Out-Null
        try {
            # A nightly script as an admin writes it: carry on past a failed database, but end with a failing exit status.
            $run = Invoke-FreshPwsh @"
Import-Module '$(Get-PgBackupModulePath)'
`$reader = [pscredential]::new('pester_reader', (ConvertTo-SecureString 'unused-on-trust' -AsPlainText -Force))
New-PgBackup -Database 'shop*', 'billing' -Server $($script:Cluster.Host) -Port $($script:Cluster.Port) -Credential `$reader -Repository '$($script:Repo)' -ErrorAction Continue | ForEach-Object Database
exit (`$? ? 0 : 1)
"@
            $run.ExitCode | Should -Be 1 -Because ($run.Output -join "`n")
            ($run.Output -join "`n") | Should -Match 'ConnectionFailed|shop_eu'
            $all = @(Get-PgBackupInfo -Repository $script:Repo)
            @($all | Where-Object Status -eq 'Succeeded').Database | Sort-Object | Should -Be @('billing', 'shop')
            @($all | Where-Object Status -eq 'Failed').Database | Should -Be @('shop_eu')
        }
        finally { $script:Cluster.Psql('postgres', 'GRANT CONNECT ON DATABASE shop_eu TO PUBLIC; DROP OWNED BY pester_reader; DROP ROLE pester_reader;') | Out-Null }
    }

    It 'keeps the globals a retention series of their own' {
        # Three globals and one database backup: -KeepLast 1 keeps the newest of each series, the database's untouched.
        $database = New-PgBackup -Database shop -Repository $script:Repo @script:Connection -ErrorAction Stop
        $globals = foreach ($i in 1..3) { New-PgBackup -IncludeGlobals -Repository $script:Repo @script:Connection -ErrorAction Stop }
        $removed = Remove-PgBackupExpired -Repository $script:Repo -KeepLast 1 -PassThru -Confirm:$false
        ($removed.Id | Sort-Object) | Should -Be ($globals[0..1].Id | Sort-Object)
        (Get-PgBackupInfo -Repository $script:Repo).Id | Sort-Object | Should -Be (@($globals[2].Id, $database.Id) | Sort-Object)
        # -Latest names one backup per series: the newest globals and the newest of each database.
        (Get-PgBackupInfo -Repository $script:Repo -Latest).Id | Sort-Object | Should -Be (@($globals[2].Id, $database.Id) | Sort-Object)
    }
}
