# Issue 12 (whole-server backups) and issue 11 point 3 (selection that cannot misfire), against the built module and
# real throwaway clusters.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-PgBackupModulePath) -Force
    $script:Cluster = Start-TestCluster
    foreach ($name in 'shop', 'shop_eu', 'billing', 'tmp_scratch', 'tmp_load') { $script:Cluster.CreateDatabase($name) }
    $script:Cluster.Psql('shop', 'CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 50);') | Out-Null
    $script:Connection = @{ Server = $script:Cluster.Host; Port = $script:Cluster.Port; Credential = New-TestCredential }

    function Get-NewPgBackupErrorIds([hashtable] $Splat) {
        # The distinct ErrorIds New-PgBackup raised: a terminating error lands in -ErrorVariable too, so what counts is
        # which errors were raised, each once.
        $failures = @()
        $thrown = $null
        try { $null = New-PgBackup @Splat -ErrorVariable failures -ErrorAction SilentlyContinue }
        catch { $thrown = $_ }
        @($failures) + @($thrown) | Where-Object { $_ } | ForEach-Object FullyQualifiedErrorId | Select-Object -Unique
    }

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
        $ids = @(Get-NewPgBackupErrorIds $splat)
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

Describe 'Whole-server restore onto a new server (issue 12)' {
    BeforeAll {
        $script:Source = Start-TestCluster
        $script:Target = Start-TestCluster
        $script:WholeRepo = New-TestFolder
        $script:Source.Psql('postgres', @"
CREATE ROLE app_owner LOGIN PASSWORD 'owner-Secr3t';
CREATE ROLE app_reader LOGIN PASSWORD 'reader-Secr3t';
CREATE ROLE analysts NOLOGIN;
GRANT analysts TO app_reader;
ALTER ROLE app_reader SET statement_timeout = '5s';
CREATE DATABASE shop OWNER app_owner;
CREATE DATABASE billing;
CREATE DATABASE crm;
"@) | Out-Null
        $script:Source.Psql('shop', @"
SET ROLE app_owner;
CREATE TABLE orders (id int PRIMARY KEY, note text);
INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 100) g;
GRANT SELECT ON orders TO app_reader;
"@) | Out-Null
        $script:Source.Psql('billing', "CREATE TABLE invoices (id int PRIMARY KEY); INSERT INTO invoices SELECT generate_series(1, 10); GRANT SELECT ON invoices TO analysts;") | Out-Null
        $script:Source.Psql('crm', "CREATE TABLE contacts (id int PRIMARY KEY, owner text DEFAULT current_user); ALTER TABLE contacts OWNER TO app_owner;") | Out-Null

        # The source server's nightly backup, which every test below reads.
        $source = @{ Server = $script:Source.Host; Port = $script:Source.Port; Credential = New-TestCredential }
        $script:WholeBackups = @(New-PgBackup -AllDatabases -ExcludeDatabase postgres -IncludeGlobals -Repository $script:WholeRepo @source -ErrorAction Stop)

        function Get-DumpText($Cluster, [string] $Database) {
            # The whole dump as text, owners and privileges included; \restrict lines carry a random key per run.
            $text = & $Cluster.Tool('pg_dump') -h $Cluster.Host -p $Cluster.Port -U postgres --dbname="dbname=$Database"
            ($text | Where-Object { $_ -notmatch '^\\(un)?restrict ' }) -join "`n"
        }
        function Get-RoleFacts($Cluster) {
            $Cluster.Psql('postgres', @"
SELECT string_agg(line, ' | ' ORDER BY line) FROM (
  SELECT 'role ' || rolname || ' login=' || rolcanlogin || ' hash=' || coalesce(rolpassword, '-') AS line FROM pg_authid WHERE rolname IN ('app_owner', 'app_reader', 'analysts')
  UNION ALL SELECT 'member ' || r.rolname || ' of ' || g.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid WHERE r.rolname IN ('app_owner', 'app_reader', 'analysts')
  UNION ALL SELECT 'setting ' || r.rolname || ' ' || array_to_string(s.setconfig, ',') FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname IN ('app_owner', 'app_reader', 'analysts')
) facts;
"@)
        }
    }
    AfterAll {
        if ($script:Source) { $script:Source.Dispose() }
        if ($script:Target) { $script:Target.Dispose() }
        Remove-Item $script:WholeRepo -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'backs up 3 databases and the globals, and the README pipeline brings them back with owners, privileges, roles, memberships and settings' {
        $backups = $script:WholeBackups
        @($backups | Where-Object Kind -eq 'Database').Database | Sort-Object | Should -Be @('billing', 'crm', 'shop')
        @($backups | Where-Object Kind -eq 'Globals').Count | Should -Be 1

        # Exactly the README's pipeline; the target server is the second, empty cluster (its user from PGUSER).
        $r = $script:WholeRepo
        $newhost = "$($script:Target.Host):$($script:Target.Port)"
        $results = Invoke-WithEnvironment @{ PGUSER = 'postgres'; PGPASSWORD = $null; DATABASE_URL = $null } {
            Get-PgBackupInfo -Repository $r -Latest | Restore-PgBackup -Server $newhost -Force -ErrorAction Stop
        }

        # The globals went first (Get-PgBackupInfo lists them last: they were taken last).
        $results[0].TargetDatabase | Should -Be '(globals)'
        $results[0].Created | Should -Contain 'role app_owner'
        $results[0].Failed | Should -BeNullOrEmpty
        ($results[0].Skipped -join "`n") | Should -Match 'role postgres'
        ($results | Select-Object -Skip 1).TargetDatabase | Sort-Object | Should -Be @('billing', 'crm', 'shop')
        Get-RoleFacts $script:Target | Should -Be (Get-RoleFacts $script:Source)
        (Get-RoleFacts $script:Target) | Should -Match 'member app_reader of analysts'
        (Get-RoleFacts $script:Target) | Should -Match 'setting app_reader statement_timeout=5s'
        foreach ($database in 'shop', 'billing', 'crm') {
            Get-DumpText $script:Target $database | Should -Be (Get-DumpText $script:Source $database) -Because "the dump of $database"
        }
        (Get-DumpText $script:Target 'shop') | Should -Match 'OWNER TO app_owner'
        (Get-DumpText $script:Target 'shop') | Should -Match 'GRANT SELECT ON TABLE public.orders TO app_reader'
    }

    It 'restores globals onto a server that has some of the roles: leaves them alone, merges memberships and settings, -WhatIf lists statements without password hashes' {
        $target = @{ Server = $script:Target.Host; Port = $script:Target.Port; Credential = New-TestCredential }
        $globals = Get-PgBackupInfo -Repository $script:WholeRepo -Kind Globals -Latest
        $script:Target.Psql('postgres', "ALTER ROLE app_owner PASSWORD 'changed-on-target'; REVOKE analysts FROM app_reader; ALTER ROLE app_reader RESET statement_timeout;") | Out-Null
        $ownerHash = $script:Target.Psql('postgres', "SELECT rolpassword FROM pg_authid WHERE rolname = 'app_owner'")

        # "What if:" lines go to the host: read from a fresh pwsh's output.
        $run = Invoke-FreshPwsh -Script @"
Import-Module '$(Get-PgBackupModulePath)'
Get-PgBackupInfo -Repository '$($script:WholeRepo)' -Kind Globals -Latest | Restore-PgBackup -Server $($script:Target.Host) -Port $($script:Target.Port) -Credential ([pscredential]::new('postgres', (ConvertTo-SecureString 'unused-on-trust' -AsPlainText -Force))) -WhatIf
"@
        $run.ExitCode | Should -Be 0 -Because ($run.Output -join "`n")
        $whatIf = $run.Output -join "`n"
        $whatIf | Should -Match 'CREATE ROLE app_reader'
        $whatIf | Should -Match "PASSWORD '\*\*\*'"
        $whatIf | Should -Not -Match 'SCRAM-SHA-256'
        $script:Target.Psql('postgres', "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member WHERE r.rolname = 'app_reader'") | Should -Be '0'

        $result = $globals | Restore-PgBackup @target -Force -ErrorAction Stop
        $result.Created | Should -BeNullOrEmpty
        ($result.Skipped -join "`n") | Should -Match 'role app_owner exists and is left alone'
        $script:Target.Psql('postgres', "SELECT rolpassword FROM pg_authid WHERE rolname = 'app_owner'") | Should -Be $ownerHash
        (Get-RoleFacts $script:Target) | Should -Match 'member app_reader of analysts'
        (Get-RoleFacts $script:Target) | Should -Match 'setting app_reader statement_timeout=5s'
    }

    It 'Test-PgBackup parses a Globals backup (Structure) and applies it in a transaction that is rolled back (Restore)' {
        $globals = Get-PgBackupInfo -Repository $script:WholeRepo -Kind Globals -Latest
        $structure = $globals | Test-PgBackup -Level Structure -ErrorAction Stop
        $structure.Passed | Should -BeTrue
        ($structure.Checks | Where-Object Name -eq 'Globals statements').Detail | Should -Match '\d+ statements pg_dumpall writes: \d+ roles, 1 memberships'

        $scratch = Start-TestCluster
        try {
            $result = $globals | Test-PgBackup -Level Restore -Server $scratch.Host -Port $scratch.Port -Credential (New-TestCredential) -ErrorAction Stop
            $result.Passed | Should -BeTrue
            ($result.Checks | Where-Object Name -eq 'Globals applied (rolled back)').Passed | Should -BeTrue
            $scratch.Psql('postgres', "SELECT count(*) FROM pg_roles WHERE rolname IN ('app_owner', 'app_reader', 'analysts')") | Should -Be '0'
        }
        finally { $scratch.Dispose() }
    }

    It 'refuses a globals backup holding a statement pg_dumpall does not write, before applying any' {
        $forged = New-TestFolder
        try {
            $globals = New-PgBackup -IncludeGlobals -Compression None -Repository $forged -Server $script:Source.Host -Port $script:Source.Port -Credential (New-TestCredential) -ErrorAction Stop
            # The script gains a role and a DROP DATABASE, its manifest a matching checksum: the repository is untrusted.
            Set-Content -Path $globals.Location -Value ((Get-Content -Raw $globals.Location) + "`nCREATE ROLE evil_one;`nDROP DATABASE shop;`n") -NoNewline
            $manifest = Get-Content -Raw $globals.ManifestLocation | ConvertFrom-Json
            $manifest.sizeBytes = (Get-Item $globals.Location).Length
            $manifest.sha256 = (Get-FileHash $globals.Location -Algorithm SHA256).Hash.ToLowerInvariant()
            $manifest | ConvertTo-Json -Depth 5 | Set-Content -Path $globals.ManifestLocation
            $databasesBefore = $script:Target.Psql('postgres', "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database")
            $errors = $null
            $null = Restore-PgBackup -Path $globals.ManifestLocation -Server $script:Target.Host -Port $script:Target.Port -Credential (New-TestCredential) -Force -ErrorAction SilentlyContinue -ErrorVariable errors
            $errors.Count | Should -Be 1
            $errors[0].FullyQualifiedErrorId | Should -BeLike 'UnsafeDump,*'
            $script:Target.Psql('postgres', "SELECT count(*) FROM pg_roles WHERE rolname = 'evil_one'") | Should -Be '0'
            $script:Target.Psql('postgres', "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database") | Should -Be $databasesBefore
            $tested = Test-PgBackup -Path $globals.ManifestLocation -Level Structure -ErrorAction SilentlyContinue
            $tested.Passed | Should -BeFalse
            ($tested.Checks | Where-Object Name -eq 'Globals statements').Passed | Should -BeFalse
        }
        finally { Remove-Item $forged -Recurse -Force -ErrorAction SilentlyContinue }
    }
}

Describe 'New-PgBackup pre-flight mistakes against S3 (issue 11.3)' {
    BeforeAll {
        $script:S3 = Start-TestS3rver
        $script:S3Repo = "s3://$($script:S3.Bucket)/preflight"
        $script:S3Args = @{ Repository = $script:S3Repo; S3Endpoint = $script:S3.Endpoint } + $script:Connection
        $null = New-PgBackup -Database billing @script:S3Args -ErrorAction Stop

        function Get-S3State {
            # Every object under the prefix with the SHA-256 of its bytes, read back through the S3 API.
            $client = New-TestS3Client $script:S3
            try {
                @(Get-TestS3Keys $script:S3 'preflight' | ForEach-Object {
                        $response = $client.GetObjectAsync($script:S3.Bucket, $_).GetAwaiter().GetResult()
                        try {
                            $hash = [Security.Cryptography.SHA256]::HashData($response.ResponseStream)
                            "$_ $([Convert]::ToHexString($hash))"
                        }
                        finally { $response.Dispose() }
                    }) -join "`n"
            }
            finally { $client.Dispose() }
        }
    }
    AfterAll { Stop-TestS3rver $script:S3 }

    It 'pre-flight mistake <Name> against S3 is <ErrorId> and leaves every object unchanged' -ForEach @(
        @{ Name = 'unknown database'; ErrorId = 'DatabaseNotFound'; Extra = @{ Database = 'nortwind' } }
        @{ Name = 'wildcard without a match'; ErrorId = 'NoDatabaseMatched'; Extra = @{ Database = 'north*' } }
        @{ Name = 'invalid storage class'; ErrorId = 'InvalidStorageClass'; Extra = @{ Database = 'shop'; StorageClass = 'STANDARD_AI' } }
    ) {
        $before = Get-S3State
        $before | Should -Match '\.manifest\.json [0-9A-F]{64}'
        $splat = $script:S3Args.Clone()
        foreach ($entry in $Extra.GetEnumerator()) { $splat[$entry.Key] = $entry.Value }
        $ids = @(Get-NewPgBackupErrorIds $splat)
        $ids.Count | Should -Be 1
        $ids[0] | Should -BeLike "$ErrorId,*"
        Get-S3State | Should -Be $before
    }
}
