BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-PgBackupModulePath) -Force
    $script:Cluster = Start-TestCluster
    $script:Cluster.CreateNorthwind('northwind')
    $script:Connection = @{ Server = $script:Cluster.Host; Port = $script:Cluster.Port; Credential = New-TestCredential }
    $script:ScramPassword = 'pester-Secr3t:pw@x'
    $script:Scram = Start-TestCluster -Password $script:ScramPassword
    $script:Scram.CreateDatabase('guarded')
}

AfterAll {
    if ($script:Cluster) { $script:Cluster.Dispose() }
    if ($script:Scram) { $script:Scram.Dispose() }
}

Describe 'New-PgBackup' {
    BeforeEach {
        $script:Repo = New-TestFolder
    }
    AfterEach {
        Remove-Item $script:Repo -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'has the documented parameter surface' {
        $command = Get-Command New-PgBackup
        $own = $command.Parameters.Keys | Where-Object { $_ -notin [System.Management.Automation.PSCmdlet]::CommonParameters -and $_ -notin [System.Management.Automation.PSCmdlet]::OptionalCommonParameters }
        ($own | Sort-Object) -join ',' | Should -Be 'AccessTier,AllDatabases,AzureBlockSizeMB,Compression,CompressionLevel,ConnectionString,Credential,Database,EncryptionPassphrase,EncryptionPublicKey,Environment,ExcludeDatabase,Format,IncludeGlobals,Jobs,KmsKeyId,LogPath,Port,Repository,RowCounts,S3Endpoint,S3PartSizeMB,S3Region,SchemaOnly,Server,ServerSideEncryption,SigningKey,SigningKeyPassphrase,StorageClass,Tag,Verify'
        $command.Parameters['Database'].Aliases | Should -Be @('Name', 'DatabaseName', 'datname')
        $command.Parameters['EncryptionPassphrase'].ParameterType | Should -Be ([securestring])
        $command.Parameters['EncryptionPublicKey'].ParameterType | Should -Be ([string[]])
        $command.Parameters['Server'].Aliases | Should -Contain 'Host'
        $command.Parameters['Repository'].Aliases | Should -Be @('Path', 'Destination')
        $command.Parameters['Database'].Attributes.Where({ $_ -is [Parameter] }).ValueFromPipeline | Should -BeTrue
        $command.OutputType.Name | Should -Be 'PgBackup.BackupInfo'
    }

    It 'returns a BackupInfo that Get-PgBackupInfo reads back equal, property by property' {
        $backup = New-PgBackup -Database northwind -Repository $script:Repo -Environment pester -Tag @{ ticket = 'CHG-7'; n = 1 } @script:Connection

        $backup.pstypenames[0] | Should -Be 'PgBackup.BackupInfo'
        $backup.Status | Should -Be 'Succeeded'
        $backup.Tags['ticket'] | Should -Be 'CHG-7'
        (Get-FileHash -Algorithm SHA256 $backup.Location).Hash.ToLowerInvariant() | Should -Be $backup.Sha256
        foreach ($readBack in @((Get-PgBackupInfo -Path $backup.ManifestLocation), (Get-PgBackupInfo -Path $backup.Location), (Get-PgBackupInfo -Repository $script:Repo))) {
            foreach ($property in $backup.PSObject.Properties.Name) {
                $expected = $backup.$property
                $actual = $readBack.$property
                if ($expected -is [System.Collections.IDictionary]) {
                    ($actual.Keys | Sort-Object) -join ',' | Should -Be (($expected.Keys | Sort-Object) -join ',')
                    foreach ($key in $expected.Keys) { $actual[$key] | Should -Be $expected[$key] }
                }
                else {
                    $actual | Should -Be $expected -Because "property $property"
                }
            }
        }
    }

    It 'takes database names from the pipeline and writes one BackupInfo per database' {
        $script:Cluster.CreateDatabase('piped one')
        $backups = @('northwind', 'piped one') | New-PgBackup -Repository $script:Repo @script:Connection

        $backups.Count | Should -Be 2
        $backups.Database | Should -Be @('northwind', 'piped one')
        (Get-PgBackupInfo -Repository $script:Repo).Count | Should -Be 2
    }

    It 'reports an unknown database as a non-terminating DatabaseNotFound error, writes nothing for it, and carries on' {
        $backups = @('no_such_database', 'northwind') | New-PgBackup -Repository $script:Repo @script:Connection -ErrorVariable failures -ErrorAction SilentlyContinue

        @($backups).Count | Should -Be 1
        $failures.Count | Should -Be 1
        $failures[0].FullyQualifiedErrorId | Should -Be 'DatabaseNotFound,PgBackup.Commands.NewPgBackupCommand'
        $failures[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $failures[0].TargetObject | Should -Be 'no_such_database'
        # A typo is the user's mistake, caught before any dump: no Failed manifest drags the success rate down (issue 11.3).
        (Get-PgBackupInfo -Repository $script:Repo).Database | Should -Be @('northwind')
        Get-ChildItem $script:Repo -Recurse -Filter *.partial | Should -BeNullOrEmpty
    }

    It 'reports a wrong password as AuthenticationFailed without revealing it anywhere' {
        $wrong = 'Not-The-Pa55word'
        $credential = New-TestCredential -Password $wrong
        $output = New-PgBackup -Database guarded -Server $script:Scram.Host -Port $script:Scram.Port -Credential $credential -Repository $script:Repo -ErrorVariable failures -ErrorAction SilentlyContinue -Verbose 4>&1

        $failures[0].FullyQualifiedErrorId | Should -Be 'AuthenticationFailed,PgBackup.Commands.NewPgBackupCommand'
        ($output | Out-String) | Should -Not -Match $wrong
        ($failures | Out-String) | Should -Not -Match $wrong
        Get-ChildItem $script:Repo -Recurse -File | Get-Content -Raw | Should -Not -Match $wrong
    }

    It 'backs up with the right password from -Credential and never stores it' {
        $credential = New-TestCredential -Password $script:ScramPassword
        $backup = New-PgBackup -Database guarded -Server $script:Scram.Host -Port $script:Scram.Port -Credential $credential -Repository $script:Repo

        $backup.Status | Should -Be 'Succeeded'
        Get-Content -Raw $backup.ManifestLocation | Should -Not -Match ([regex]::Escape($script:ScramPassword))
    }

    It 'reports an unreachable server as ConnectionFailed' {
        $null = New-PgBackup -Database northwind -Server 127.0.0.1 -Port 1 -Repository $script:Repo -ErrorVariable failures -ErrorAction SilentlyContinue
        $failures[0].FullyQualifiedErrorId | Should -Be 'ConnectionFailed,PgBackup.Commands.NewPgBackupCommand'
    }

    It 'stops a pipeline on -ErrorAction Stop' {
        { New-PgBackup -Database no_such_database -Repository $script:Repo @script:Connection -ErrorAction Stop } |
            Should -Throw -ErrorId 'DatabaseNotFound,PgBackup.Commands.NewPgBackupCommand'
    }

    It 'rejects a malformed connection string as a terminating InvalidConnectionString error' {
        { New-PgBackup -Database x -ConnectionString "dbname='unterminated" -Repository $script:Repo } |
            Should -Throw -ErrorId 'InvalidConnectionString,PgBackup.Commands.NewPgBackupCommand'
    }

    It 'uses DATABASE_URL in its SQLAlchemy form, database included' {
        $backup = Invoke-WithEnvironment @{ DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:$($script:Cluster.Port)/northwind" } {
            New-PgBackup -Repository $script:Repo
        }

        $backup.Database | Should -Be 'northwind'
        $backup.Server | Should -Be "127.0.0.1:$($script:Cluster.Port)"
    }

    It 'uses the libpq variables PGHOST, PGPORT, PGUSER and PGPASSWORD' {
        $libpq = @{ PGHOST = '127.0.0.1'; PGPORT = "$($script:Scram.Port)"; PGUSER = 'postgres'; PGPASSWORD = $script:ScramPassword }
        $backup = Invoke-WithEnvironment $libpq { New-PgBackup -Database guarded -Repository $script:Repo }

        $backup.Status | Should -Be 'Succeeded'
        $backup.Server | Should -Be "127.0.0.1:$($script:Scram.Port)"
    }

    It 'defaults the repository to $env:PGBACKUP_REPOSITORY' {
        $backup = Invoke-WithEnvironment @{ PGBACKUP_REPOSITORY = $script:Repo } { New-PgBackup -Database northwind -SchemaOnly @script:Connection }

        $backup.Repository | Should -Be $script:Repo
        $backup.SchemaOnly | Should -BeTrue
    }

    It 'resolves a relative repository against the current PowerShell location' {
        Push-Location $script:Repo
        try { $backup = New-PgBackup -Database northwind -Repository 'relative/repo' @script:Connection }
        finally { Pop-Location }

        $backup.Repository | Should -Be (Join-Path $script:Repo 'relative/repo')
        Test-Path $backup.Location | Should -BeTrue
    }

    It 'backs up and lists a database with quotes, spaces and non-ASCII letters in its name' {
        $hostile = "it's a ""db"" – ünïcødé"
        $script:Cluster.CreateDatabase($hostile)
        $backup = New-PgBackup -Database $hostile -Repository $script:Repo @script:Connection

        $backup.Database | Should -Be $hostile
        (Get-PgBackupInfo -Repository $script:Repo -Database "it's*").Database | Should -Be $hostile
    }
}

Describe 'Get-PgBackupInfo' {
    BeforeAll {
        $script:ListRepo = New-TestFolder
        $script:Cluster.CreateDatabase('alpha')
        $script:Cluster.CreateDatabase('beta')
        $script:Listed = foreach ($name in 'alpha', 'beta', 'alpha') { New-PgBackup -Database $name -Repository $script:ListRepo @script:Connection }
        # A failed attempt is recorded when the environment fails (here: the server refuses connections to it); an
        # unknown name would be refused before anything is written.
        $null = $script:Cluster.Psql('postgres', 'CREATE DATABASE alpha_missing ALLOW_CONNECTIONS false;')
        $null = New-PgBackup -Database alpha_missing -Repository $script:ListRepo @script:Connection -ErrorAction SilentlyContinue
    }
    AfterAll { Remove-Item $script:ListRepo -Recurse -Force -ErrorAction SilentlyContinue }

    It 'has the documented parameter surface' {
        $command = Get-Command Get-PgBackupInfo
        $own = $command.Parameters.Keys | Where-Object { $_ -notin [System.Management.Automation.PSCmdlet]::CommonParameters }
        ($own | Sort-Object) -join ',' | Should -Be 'Database,Id,Kind,Latest,LiteralPath,LogPath,Path,Repository,S3Endpoint,S3Region,Since,Status,Summary'
        $command.Parameters['Kind'].ParameterType | Should -Be ([Nullable[PgBackup.BackupKind]])
        $command.Parameters['Database'].Attributes.Where({ $_ -is [SupportsWildcards] }) | Should -Not -BeNullOrEmpty
        ($command.OutputType.Name | Sort-Object) -join ',' | Should -Be 'PgBackup.BackupInfo,PgBackup.BackupSummary'
    }

    It 'lists every manifest newest first, failed attempts included' {
        $all = Get-PgBackupInfo -Repository $script:ListRepo
        $all.Count | Should -Be 4
        $all[0].Database | Should -Be 'alpha_missing'
        $all[0].Status | Should -Be 'Failed'
        for ($i = 1; $i -lt $all.Count; $i++) { $all[$i - 1].StartedAt | Should -BeGreaterOrEqual $all[$i].StartedAt }
    }

    It 'filters by database wildcard' {
        (Get-PgBackupInfo -Repository $script:ListRepo -Database 'b*').Database | Should -Be @('beta')
        (Get-PgBackupInfo -Repository $script:ListRepo -Database 'alpha').Count | Should -Be 2
    }

    It '-Latest returns the newest succeeded backup per database' {
        $latest = Get-PgBackupInfo -Repository $script:ListRepo -Latest
        ($latest.Database | Sort-Object) -join ',' | Should -Be 'alpha,beta'
        ($latest | Where-Object Database -eq 'alpha').Id | Should -Be $script:Listed[2].Id
    }

    It 'reports a missing repository as a terminating RepositoryNotFound error' {
        { Get-PgBackupInfo -Repository (Join-Path $script:ListRepo 'nope') } |
            Should -Throw -ErrorId 'RepositoryNotFound,PgBackup.Commands.GetPgBackupInfoCommand'
    }

    It 'reports an unreadable manifest path as a non-terminating error' {
        $null = Get-PgBackupInfo -Path (Join-Path $script:ListRepo '2020/01/01/none.dump') -ErrorVariable failures -ErrorAction SilentlyContinue
        $failures[0].FullyQualifiedErrorId | Should -Be 'RepositoryReadFailed,PgBackup.Commands.GetPgBackupInfoCommand'
    }
}
