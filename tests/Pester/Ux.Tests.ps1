BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-PgBackupModulePath) -Force
    $script:Cluster = Start-TestCluster
    $script:Cluster.CreateNorthwind('northwind_ux')
    $script:Connection = @{ Server = $script:Cluster.Host; Port = $script:Cluster.Port; Credential = (New-TestCredential) }

    function Get-VerifyDatabase {
        $script:Cluster.ListDatabasesAsync().GetAwaiter().GetResult() | Where-Object { $_ -like 'pgbackup_verify_*' }
    }

    # Every file and folder under a repository, with each file's SHA-256: equal snapshots mean byte-for-byte unchanged.
    function Get-RepositorySnapshot([string] $Path) {
        Get-ChildItem -LiteralPath $Path -Recurse -Force | Sort-Object FullName | ForEach-Object {
            $relative = [IO.Path]::GetRelativePath($Path, $_.FullName)
            if ($_.PSIsContainer) { "dir $relative" } else { "file $relative $((Get-FileHash -LiteralPath $_.FullName -Algorithm SHA256).Hash)" }
        }
    }

    # A fresh, non-interactive pwsh that imports the module and connects to the test cluster.
    function Invoke-ModuleScript([string] $Body) {
        $module = Get-PgBackupModulePath
        Invoke-FreshPwsh -Script @"
`$ErrorActionPreference = 'Continue'
Import-Module '$module'
`$connection = @{ Server = '$($script:Cluster.Host)'; Port = $($script:Cluster.Port); Credential = [pscredential]::new('postgres', (ConvertTo-SecureString 'unused-on-trust' -AsPlainText -Force)) }
$Body
"@
    }
}

AfterAll {
    if ($script:Cluster) { $script:Cluster.Dispose() }
}

Describe 'New-PgBackup -WhatIf (ux11)' {
    BeforeEach { $script:Repo = New-TestFolder }
    AfterEach { Remove-Item $script:Repo -Recurse -Force -ErrorAction SilentlyContinue }

    It 'writes nothing to the repository, starts no pg_dump, and says what it would do' {
        $null = New-PgBackup -Database northwind_ux -Repository $script:Repo @script:Connection -ErrorAction Stop
        # Both exist: a name the server lacks is refused before -WhatIf is asked (the selection pre-flight).
        $script:Cluster.CreateDatabase('other_db')
        $before = Get-RepositorySnapshot $script:Repo
        # A pg_dump (and psql, pg_restore) that only records that it was started.
        $tools = New-TestFolder
        $marker = Join-Path $tools 'started.txt'
        foreach ($tool in 'pg_dump', 'pg_restore', 'psql') {
            $path = Join-Path $tools $tool
            Set-Content -Path $path -Value "#!/bin/sh`necho `"`$0 `$*`" >> '$marker'`necho 'pg_dump (PostgreSQL) 99.0'"
            if (-not $IsWindows) { chmod +x $path }
        }

        $run = Invoke-ModuleScript @"
`$env:PGBACKUP_PG_BIN = '$tools'
`$env:PATH = '$tools'
`$out = New-PgBackup -Database northwind_ux, other_db -Repository '$($script:Repo)' @connection -WhatIf
"objects: `$(@(`$out).Count)"
"errors: `$(`$Error.Count)"
"@

        $text = $run.Output -join "`n"
        $text | Should -Match 'What if: .*northwind_ux'
        $text | Should -Match 'What if: .*other_db'
        $text | Should -Match ([regex]::Escape($script:Repo))
        $text | Should -Match 'objects: 0'
        $text | Should -Match 'errors: 0'
        Test-Path $marker | Should -BeFalse -Because 'no PostgreSQL tool may start under -WhatIf'
        Get-RepositorySnapshot $script:Repo | Should -Be $before
        Remove-Item $tools -Recurse -Force
    }

    It 'does not create a missing repository folder' {
        $missing = Join-Path $script:Repo 'not-yet'
        New-PgBackup -Database northwind_ux -Repository $missing @script:Connection -WhatIf
        Test-Path $missing | Should -BeFalse
    }
}

Describe 'Test-PgBackup -Level Restore confirmation (ux11)' {
    BeforeAll {
        $script:RestoreRepo = New-TestFolder
        $script:Backup = New-PgBackup -Database northwind_ux -Repository $script:RestoreRepo @script:Connection -ErrorAction Stop
    }
    AfterAll { Remove-Item $script:RestoreRepo -Recurse -Force -ErrorAction SilentlyContinue }

    It 'creates no database under -WhatIf and says what it would do' {
        $result = $script:Backup | Test-PgBackup -Level Restore -KeepDatabase -WhatIf @script:Connection -ErrorAction Stop
        $result | Should -BeNullOrEmpty
        Get-VerifyDatabase | Should -BeNullOrEmpty
    }

    It 'does not ask by default, nor with -Confirm:$false, even with $ConfirmPreference Medium' {
        $ConfirmPreference = 'Medium'
        $default = $script:Backup | Test-PgBackup -Level Restore @script:Connection -ErrorAction Stop
        $explicit = $script:Backup | Test-PgBackup -Level Restore -Confirm:$false @script:Connection -ErrorAction Stop
        $default.Passed | Should -BeTrue
        $explicit.Passed | Should -BeTrue
        Get-VerifyDatabase | Should -BeNullOrEmpty
    }

    It 'asks with -Confirm (a non-interactive host cannot answer, so nothing is created)' {
        $run = Invoke-ModuleScript @"
`$r = Get-PgBackupInfo -Path '$($script:Backup.ManifestLocation)' | Test-PgBackup -Level Restore -KeepDatabase -Confirm @connection
"results: `$(if (`$null -eq `$r) { 0 } else { @(`$r).Count })"
"error: `$(`$Error[0].FullyQualifiedErrorId)"
"@
        $text = $run.Output -join "`n"
        $text | Should -Match 'results: 0'
        $text | Should -Match 'NonInteractive'
        $text | Should -Match 'error: ConfirmationNotPossible,'
        Get-VerifyDatabase | Should -BeNullOrEmpty
    }

    It 'says what -WhatIf would do in a fresh host' {
        $run = Invoke-ModuleScript @"
Get-PgBackupInfo -Path '$($script:Backup.ManifestLocation)' | Test-PgBackup -Level Restore -WhatIf @connection
"@
        ($run.Output -join "`n") | Should -Match 'What if: .*pgbackup_verify_'
    }
}

Describe 'ErrorRecords RecommendedAction (ux11)' {
    BeforeEach { $script:Repo = New-TestFolder }
    AfterEach { Remove-Item $script:Repo -Recurse -Force -ErrorAction SilentlyContinue }

    It 'DatabaseNotFound tells how to fix it' {
        New-PgBackup -Database no_such_db_ux -Repository $script:Repo @script:Connection -ErrorVariable failures -ErrorAction SilentlyContinue
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'DatabaseNotFound,*'
        $failures[0].ErrorDetails.RecommendedAction | Should -Match 'database'
        $failures[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        # The message shown stays the exception's.
        $failures[0].ErrorDetails.Message | Should -Be $failures[0].Exception.Message
    }

    It 'RepositoryNotFound tells how to fix it' {
        try { Get-PgBackupInfo -Repository (Join-Path $script:Repo 'missing') -ErrorAction Stop } catch { $record = $_ }
        $record.FullyQualifiedErrorId | Should -BeLike 'RepositoryNotFound,*'
        $record.ErrorDetails.RecommendedAction | Should -Match 'Repository'
    }

    It 'InvalidRetentionPolicy tells how to fix it' {
        { Remove-PgBackupExpired -Repository $script:Repo -KeepLast -1 -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidRetentionPolicy*'
        try { Remove-PgBackupExpired -Repository $script:Repo -KeepLast -1 -ErrorAction Stop } catch { $record = $_ }
        $record.ErrorDetails.RecommendedAction | Should -Match 'KeepLast|non-negative|rule'
    }

    It 'ReplaceNotConfirmed tells how to fix it' {
        $backup = New-PgBackup -Database northwind_ux -Repository $script:Repo @script:Connection -ErrorAction Stop
        $run = Invoke-ModuleScript @"
try { Get-PgBackupInfo -Path '$($backup.ManifestLocation)' | Restore-PgBackup @connection -ErrorAction Stop } catch { `$record = `$_ }
"id: `$(`$record.FullyQualifiedErrorId)"
"action: `$(`$record.ErrorDetails.RecommendedAction)"
"@
        $text = $run.Output -join "`n"
        $text | Should -Match 'id: ReplaceNotConfirmed'
        $text | Should -Match 'action: .*-Force'
    }
}

Describe 'Retention tidies the date folders it emptied (ux11)' {
    BeforeEach { $script:Repo = New-TestFolder }
    AfterEach { Remove-Item $script:Repo -Recurse -Force -ErrorAction SilentlyContinue }

    It 'removes YYYY/MM/DD folders emptied by this run and keeps others' {
        $now = [datetime]::UtcNow
        New-TestBackupObjects -Database shop -StartedAt ([datetime]::new(2020, 3, 4, 1, 0, 0)) | Write-TestBackupObjects -Repository $script:Repo
        New-TestBackupObjects -Database shop -StartedAt ([datetime]::new(2021, 5, 6, 1, 0, 0)) -Hex '0001' | Write-TestBackupObjects -Repository $script:Repo
        # Another file in 2021/05 keeps that month, an already-empty folder stays.
        Set-Content -Path (Join-Path $script:Repo '2021/05/notes.txt') -Value 'keep me'
        $null = New-Item -ItemType Directory -Path (Join-Path $script:Repo '2019/01/01')
        New-TestBackupObjects -Database shop -StartedAt $now.AddMinutes(-5) -Hex '0002' | Write-TestBackupObjects -Repository $script:Repo

        Remove-PgBackupExpired -Repository $script:Repo -KeepLast 1 -Confirm:$false -ErrorAction Stop

        Test-Path (Join-Path $script:Repo '2020') | Should -BeFalse
        Test-Path (Join-Path $script:Repo '2021/05/06') | Should -BeFalse
        Test-Path (Join-Path $script:Repo '2021/05/notes.txt') | Should -BeTrue
        Test-Path (Join-Path $script:Repo '2019/01/01') | Should -BeTrue
        Test-Path $script:Repo | Should -BeTrue
        @(Get-PgBackupInfo -Repository $script:Repo).Count | Should -Be 1
    }
}

Describe 'Format views at 80 columns (ux11)' {
    BeforeAll {
        $script:ViewRepo = New-TestFolder
        $script:Cluster.CreateDatabase('a_long_database_name_for_ux')
        $script:Views = @(
            New-PgBackup -Database northwind_ux -Repository $script:ViewRepo @script:Connection -ErrorAction Stop
            New-PgBackup -Database a_long_database_name_for_ux -Repository $script:ViewRepo @script:Connection -ErrorAction Stop
        )
    }
    AfterAll { Remove-Item $script:ViewRepo -Recurse -Force -ErrorAction SilentlyContinue }

    It 'Get-PgBackupInfo shows each whole Id at 80 columns' {
        $text = Get-PgBackupInfo -Repository $script:ViewRepo | Out-String -Width 80
        foreach ($backup in $script:Views) { $text | Should -Match ([regex]::Escape($backup.Id)) }
        foreach ($line in $text -split "`r?`n") { $line.Length | Should -BeLessOrEqual 80 }
    }

    It 'a failed TestResult shows its failed check names at 80 columns' {
        $copy = New-TestFolder
        Copy-Item -Path (Join-Path $script:ViewRepo '*') -Destination $copy -Recurse
        $victim = Get-ChildItem $copy -Recurse -File | Where-Object Name -notlike '*.manifest.json' | Select-Object -First 1
        [IO.File]::AppendAllText($victim.FullName, 'tampered')
        $result = Get-PgBackupInfo -Repository $copy | Where-Object Location -eq $victim.FullName | Test-PgBackup -Level Checksum -ErrorAction SilentlyContinue
        $result.Passed | Should -BeFalse
        $text = $result | Out-String -Width 80
        foreach ($name in $result.FailedChecks.Name) { $text | Should -Match ([regex]::Escape($name)) }
        $text | Should -Match ([regex]::Escape($result.Backup.Id))
        Remove-Item $copy -Recurse -Force
    }

    It 'the -Summary header does not wrap at 80 columns' {
        $text = Get-PgBackupInfo -Repository $script:ViewRepo -Summary | Out-String -Width 80
        $lines = @($text -split "`r?`n" | Where-Object { $_.Trim() })
        # One header line, then the dashes: a wrapped header would put its fragments in between.
        $lines[0] | Should -Match '^Database\s+Count\s+Failed\s+Success\s+TotalSize\s+LastSucceeded \(UTC\)\s*$'
        $lines[1] | Should -Match '^-+ '
        $text | Should -Match 'a_long_database_name_for_ux'
    }

    It 'the list view shows humanized sizes, durations and local times' {
        $backup = $script:Views[0]
        $text = $backup | Format-List | Out-String -Width 80
        $text | Should -Match '\d+(\.\d)? (B|KiB|MiB|GiB)'
        $text | Should -Match ([regex]::Escape($backup.StartedAt.ToLocalTime().ToString('yyyy-MM-dd HH:mm:ss')))
        $text | Should -Match ('Id\s*: ' + [regex]::Escape($backup.Id))
    }
}

Describe 'Backup paths: -Path expands wildcards, -LiteralPath does not, Restore-PgBackup takes a path positionally (ux11)' {
    BeforeAll {
        $script:PathRepo = New-TestFolder
        $script:PathBackup = New-PgBackup -Database northwind_ux -Repository $script:PathRepo @script:Connection -ErrorAction Stop
        $script:DayFolder = Split-Path $script:PathBackup.ManifestLocation
    }
    AfterAll { Remove-Item $script:PathRepo -Recurse -Force -ErrorAction SilentlyContinue }

    It 'Restore-PgBackup restores a manifest path given as its first positional argument' {
        $result = Restore-PgBackup $script:PathBackup.ManifestLocation -TargetDatabase ux_positional_restore @script:Connection -ErrorAction Stop
        $result.TargetDatabase | Should -Be 'ux_positional_restore'
        $result.Backup.Id | Should -Be $script:PathBackup.Id
        $script:Cluster.ListDatabasesAsync().GetAwaiter().GetResult() | Should -Contain 'ux_positional_restore'
    }

    It 'Get-PgBackupInfo -Path expands a wildcard and counts an artifact and its manifest as one backup' {
        # "*" matches the artifact and the manifest of the same backup.
        @(Get-ChildItem -LiteralPath $script:DayFolder).Count | Should -BeGreaterThan 1
        $found = @(Get-PgBackupInfo -Path (Join-Path $script:DayFolder '*') -ErrorAction Stop)
        $found.Count | Should -Be 1
        $found[0].Id | Should -Be $script:PathBackup.Id
    }

    It 'Test-PgBackup tests the backups a positional wildcard path matches' {
        $result = Test-PgBackup (Join-Path $script:DayFolder 'northwind_ux_*.manifest.json') -Level Checksum -ErrorAction Stop
        $result.Passed | Should -BeTrue
        $result.Backup.Id | Should -Be $script:PathBackup.Id
    }

    It '<Command> with a wildcard that matches nothing is BackupPathNotFound and reads nothing' -ForEach @(
        @{ Command = 'Get-PgBackupInfo'; Type = 'GetPgBackupInfoCommand' }
        @{ Command = 'Test-PgBackup'; Type = 'TestPgBackupCommand' }
        @{ Command = 'Restore-PgBackup'; Type = 'RestorePgBackupCommand' }
    ) {
        $errors = $null
        $connection = if ($Command -eq 'Get-PgBackupInfo') { @{} } else { $script:Connection }
        $out = & $Command -Path (Join-Path $script:PathRepo 'nothing_here_*.manifest.json') @connection -ErrorAction SilentlyContinue -ErrorVariable errors
        $out | Should -BeNullOrEmpty
        @($errors).Count | Should -Be 1
        $errors[0].FullyQualifiedErrorId | Should -Be "BackupPathNotFound,PgBackup.Commands.$Type"
        $errors[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'Restore-PgBackup refuses a wildcard that matches several backups, and restores nothing' {
        $second = New-PgBackup -Database northwind_ux -Repository $script:PathRepo @script:Connection -ErrorAction Stop
        try {
            $errors = $null
            $out = Restore-PgBackup (Join-Path $script:DayFolder '*.manifest.json') -TargetDatabase ux_ambiguous_restore @script:Connection -ErrorAction SilentlyContinue -ErrorVariable errors
            $out | Should -BeNullOrEmpty
            $errors[0].FullyQualifiedErrorId | Should -Be 'InvalidRestoreRequest,PgBackup.Commands.RestorePgBackupCommand'
            $script:Cluster.ListDatabasesAsync().GetAwaiter().GetResult() | Should -Not -Contain 'ux_ambiguous_restore'
        }
        finally {
            Remove-Item -LiteralPath $second.ManifestLocation, $second.Location -Force
        }
    }

    It '-LiteralPath takes brackets as written, where -Path reads them as a wildcard' {
        $bracketRepo = Join-Path $script:PathRepo 'site[1]'
        $null = New-Item -ItemType Directory -Path $bracketRepo
        $backup = New-PgBackup -Database northwind_ux -Repository $bracketRepo @script:Connection -ErrorAction Stop
        (Get-PgBackupInfo -LiteralPath $backup.ManifestLocation -ErrorAction Stop).Id | Should -Be $backup.Id
        (Test-PgBackup -LiteralPath $backup.ManifestLocation -Level Checksum -ErrorAction Stop).Passed | Should -BeTrue
        # As a wildcard, "site[1]" means "site1": no such folder.
        Get-PgBackupInfo -Path $backup.ManifestLocation -ErrorAction SilentlyContinue -ErrorVariable errors
        $errors[0].FullyQualifiedErrorId | Should -Be 'BackupPathNotFound,PgBackup.Commands.GetPgBackupInfoCommand'
    }

    It 'files piped from Get-ChildItem bind to -LiteralPath' {
        $found = @(Get-ChildItem -LiteralPath $script:DayFolder -Filter *.manifest.json | Get-PgBackupInfo -ErrorAction Stop)
        $found.Id | Should -Contain $script:PathBackup.Id
        $tested = @(Get-ChildItem -LiteralPath $script:DayFolder -Filter *.manifest.json | Test-PgBackup -Level Checksum -ErrorAction Stop)
        $tested.Backup.Id | Should -Contain $script:PathBackup.Id
    }
}

Describe 'Argument completion (ux11)' {
    BeforeAll {
        $script:CompletionDatabases = 'ux_complete_alpha', 'ux_complete_beta', "ux_complete o'brien"
        foreach ($name in $script:CompletionDatabases) { $script:Cluster.CreateDatabase($name) }
        # Completion evaluates the variables typed on the line, as the console does: a global one, like a user's.
        $global:UxCompletionCredential = New-TestCredential
        $script:ConnectionText = "-Server $($script:Cluster.Host) -Port $($script:Cluster.Port) -Credential `$UxCompletionCredential"

        # What Tab offers at the end of a command line (TabExpansion2, as the console calls it).
        function Get-Completion([string] $Line) {
            (TabExpansion2 -inputScript $Line -cursorColumn $Line.Length).CompletionMatches
        }
    }

    AfterAll { Remove-Variable -Name UxCompletionCredential -Scope Global -ErrorAction SilentlyContinue }

    It 'New-PgBackup -Database completes the databases of the server the typed parameters name' {
        $found = Get-Completion "New-PgBackup $script:ConnectionText -Database ux_complete"
        $found.ListItemText | Sort-Object | Should -Be @("ux_complete o'brien", 'ux_complete_alpha', 'ux_complete_beta')
        # A name the parser would split is offered quoted, ready to run.
        ($found | Where-Object ListItemText -eq "ux_complete o'brien").CompletionText | Should -Be "'ux_complete o''brien'"
        ($found | Where-Object ListItemText -eq 'ux_complete_alpha').CompletionText | Should -Be 'ux_complete_alpha'
    }

    It 'New-PgBackup -ExcludeDatabase completes the databases of the server the typed parameters name' {
        $found = Get-Completion "New-PgBackup $script:ConnectionText -AllDatabases -ExcludeDatabase ux_complete_b"
        $found.ListItemText | Should -Be @('ux_complete_beta')
    }

    It 'Restore-PgBackup -TargetDatabase completes from the server of -ConnectionString' {
        $uri = "postgresql://postgres@$($script:Cluster.Host):$($script:Cluster.Port)/postgres"
        $found = Get-Completion "Restore-PgBackup -ConnectionString '$uri' -TargetDatabase ux_complete_a"
        $found.ListItemText | Should -Be @('ux_complete_alpha')
    }

    It 'database completion uses PGHOST and PGPORT when nothing is typed' {
        $saved = Set-ProcessVariables @{ PGHOST = $script:Cluster.Host; PGPORT = "$($script:Cluster.Port)"; PGUSER = 'postgres'; DATABASE_URL = $null }
        try {
            (Get-Completion 'New-PgBackup -Database ux_complete_b').ListItemText | Should -Be @('ux_complete_beta')
        }
        finally { Restore-ProcessVariables $saved }
    }

    It 'database completion is quiet and quick when the server cannot be reached' {
        $elapsed = Measure-Command {
            $script:unreachable = Get-Completion 'New-PgBackup -Server 192.0.2.1 -Port 5432 -Database ux_'
        }
        $script:unreachable | Should -BeNullOrEmpty
        $elapsed.TotalSeconds | Should -BeLessThan 5
    }

    It 'New-PgBackup -StorageClass completes the S3 storage classes' {
        $all = (Get-Completion 'New-PgBackup -StorageClass ').ListItemText
        $all | Should -Contain 'STANDARD_IA'
        $all | Should -Contain 'GLACIER_IR'
        $all | Should -Contain 'DEEP_ARCHIVE'
        (Get-Completion 'New-PgBackup -StorageClass glacier').ListItemText | Should -Be @('GLACIER_IR', 'GLACIER')
    }

    It '<Command> -S3Region completes AWS regions' -ForEach @(
        @{ Command = 'New-PgBackup' }, @{ Command = 'Get-PgBackupInfo' }, @{ Command = 'Remove-PgBackupExpired' }
    ) {
        $regions = (Get-Completion "$Command -S3Region eu-").ListItemText
        $regions | Should -Contain 'eu-west-1'
        $regions | Should -Contain 'eu-central-1'
        $regions | Where-Object { $_ -notlike 'eu-*' } | Should -BeNullOrEmpty
    }

    It 'Get-PgBackupInfo -Id completes the Ids in the typed repository, newest first, and -Id selects one' {
        $repo = New-TestFolder
        $first = New-PgBackup -Database northwind_ux -Repository $repo @script:Connection -ErrorAction Stop
        # Ids carry the start second: two backups in the same second have no "newer" between them.
        Start-Sleep -Milliseconds 1100
        $second = New-PgBackup -Database northwind_ux -Repository $repo @script:Connection -ErrorAction Stop
        (Get-Completion "Get-PgBackupInfo -Repository '$repo' -Id northwind").ListItemText | Should -Be @($second.Id, $first.Id)
        (Get-PgBackupInfo -Repository $repo -Id $first.Id).Id | Should -Be $first.Id
        # The default repository (PGBACKUP_REPOSITORY) when none is typed.
        $saved = Set-ProcessVariables @{ PGBACKUP_REPOSITORY = $repo }
        try {
            (Get-Completion 'Get-PgBackupInfo -Id ').ListItemText | Should -Be @($second.Id, $first.Id)
        }
        finally { Restore-ProcessVariables $saved }
        Remove-Item $repo -Recurse -Force
    }
}
