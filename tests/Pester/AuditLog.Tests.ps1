# The audit log (issue 14): -LogPath or $env:PGBACKUP_LOG gets one JSON line per outcome of every cmdlet, whole
# under concurrent writers, and a log that cannot be written is one warning, never a failed backup.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-PgBackupModulePath) -Force
    $script:Cluster = Start-TestCluster
    $script:Cluster.CreateNorthwind('audited')
    $script:Cluster.CreateDatabase('audited_too')
    $script:Connection = @{ Server = $script:Cluster.Host; Port = $script:Cluster.Port; Credential = (New-TestCredential) }

    # Every line of a log, parsed; a line that is not one JSON object fails the test.
    function Read-AuditLog([string] $Path) {
        @(Get-Content -LiteralPath $Path | ForEach-Object { $_ | ConvertFrom-Json -ErrorAction Stop })
    }
}

AfterAll {
    if ($script:Cluster) { $script:Cluster.Dispose() }
}

Describe 'Audit log' {
    BeforeEach {
        $script:Repo = New-TestFolder
        $script:LogFolder = New-TestFolder
        $script:Log = Join-Path $script:LogFolder 'audit.jsonl'
    }
    AfterEach {
        Remove-Item $script:Repo, $script:LogFolder -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'gives every cmdlet -LogPath' {
        foreach ($name in 'New-PgBackup', 'Get-PgBackupInfo', 'Test-PgBackup', 'Restore-PgBackup', 'Remove-PgBackupExpired') {
            (Get-Command $name).Parameters.Keys | Should -Contain 'LogPath' -Because $name
        }
    }

    It 'records one line per outcome of each cmdlet: backup, failure, listing, test, restore, removal' {
        $backup = New-PgBackup -Database audited -Repository $script:Repo @script:Connection -LogPath $script:Log -ErrorAction Stop
        $null = New-PgBackup -Database no_such_db -Repository $script:Repo @script:Connection -LogPath $script:Log -ErrorAction SilentlyContinue
        $listed = @(Get-PgBackupInfo -Repository $script:Repo -LogPath $script:Log)
        $tested = $backup | Test-PgBackup -Level Checksum -LogPath $script:Log -ErrorAction Stop
        $restored = $backup | Restore-PgBackup -TargetDatabase audited_copy @script:Connection -LogPath $script:Log -ErrorAction Stop
        # The newest Succeeded backup always stays: a second one lets -KeepLast 1 remove the first.
        $newer = New-PgBackup -Database audited -Repository $script:Repo @script:Connection -ErrorAction Stop
        Remove-PgBackupExpired -Repository $script:Repo -KeepLast 1 -LogPath $script:Log -Confirm:$false -ErrorAction Stop

        $lines = Read-AuditLog $script:Log
        $lines.Count | Should -Be 6
        $lines.operation | Should -Be @('New-PgBackup', 'New-PgBackup', 'Get-PgBackupInfo', 'Test-PgBackup', 'Restore-PgBackup', 'Remove-PgBackupExpired')
        $lines.action | Should -Be @('Backup', 'Backup', 'List', 'Test', 'Restore', 'Remove')
        $lines.status | Should -Be @('Succeeded', 'Failed', 'Succeeded', 'Succeeded', 'Succeeded', 'Succeeded')

        $taken = $lines[0]
        $taken.backupId | Should -Be $backup.Id
        $taken.database | Should -Be 'audited'
        $taken.kind | Should -Be 'Database'
        $taken.server | Should -Be $backup.Server
        $taken.repository | Should -Be $backup.Repository
        $taken.bytes | Should -Be $backup.SizeBytes
        $taken.durationSeconds | Should -Be ([math]::Round($backup.Duration.TotalSeconds, 3))
        $taken.hostName | Should -Be ([Environment]::MachineName)
        $taken.userName | Should -Be ([Environment]::UserName)
        $taken.processId | Should -Be $PID
        $taken.version | Should -Be $backup.ToolVersion
        (Get-Content -LiteralPath $script:Log -TotalCount 1) | Should -Match '^\{"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",'
        $taken.PSObject.Properties.Name | Should -Not -Contain 'errorId'

        $failed = $lines[1]
        $failed.database | Should -Be 'no_such_db'
        $failed.errorId | Should -Be 'DatabaseNotFound'
        $failed.message | Should -Match 'no_such_db'
        $failed.server | Should -Be $backup.Server
        $failed.repository | Should -Be $script:Repo

        $lines[2].count | Should -Be $listed.Count
        $lines[3].backupId | Should -Be $backup.Id
        $lines[3].durationSeconds | Should -Be ([math]::Round($tested.Duration.TotalSeconds, 3))
        $lines[4].database | Should -Be 'audited_copy'
        $lines[4].durationSeconds | Should -Be ([math]::Round($restored.Duration.TotalSeconds, 3))
        $lines[5].backupId | Should -Be $backup.Id -Because 'without -PassThru the removal is still recorded'
        $lines[5].backupId | Should -Not -Be $newer.Id
    }

    It 'records a failed test once, as Failed with BackupTestFailed, and a terminating error too' {
        $backup = New-PgBackup -Database audited -Repository $script:Repo @script:Connection -ErrorAction Stop
        $bytes = [IO.File]::ReadAllBytes($backup.Location)
        $bytes[$bytes.Length - 1] = $bytes[$bytes.Length - 1] -bxor 0xFF
        [IO.File]::WriteAllBytes($backup.Location, $bytes)
        $null = $backup | Test-PgBackup -Level Checksum -LogPath $script:Log -ErrorAction SilentlyContinue
        { Get-PgBackupInfo -Repository (Join-Path $script:Repo 'missing') -LogPath $script:Log -ErrorAction Stop } | Should -Throw

        $lines = Read-AuditLog $script:Log
        $lines.Count | Should -Be 2
        $lines[0].action | Should -Be 'Test'
        $lines[0].status | Should -Be 'Failed'
        $lines[0].errorId | Should -Be 'BackupTestFailed'
        $lines[0].message | Should -Not -BeNullOrEmpty
        $lines[1].operation | Should -Be 'Get-PgBackupInfo'
        $lines[1].status | Should -Be 'Failed'
        $lines[1].errorId | Should -Be 'RepositoryNotFound'
    }

    It 'writes to $env:PGBACKUP_LOG when -LogPath is not given, and -LogPath wins over it' {
        $other = Join-Path $script:LogFolder 'other.jsonl'
        Invoke-WithEnvironment @{ PGBACKUP_LOG = $script:Log } {
            $null = Get-PgBackupInfo -Repository $script:Repo
            $null = Get-PgBackupInfo -Repository $script:Repo -LogPath $other
        }
        # @(): a listing's line has a "count" property of its own.
        @(Read-AuditLog $script:Log).Count | Should -Be 1
        @(Read-AuditLog $other).Count | Should -Be 1
    }

    It 'warns once and still backs up when the log cannot be written' -TestCases @(
        @{ Case = 'a folder that does not exist'; Relative = 'missing/audit.jsonl' }
        @{ Case = 'a path that is a folder'; Relative = '.' }
    ) {
        $path = Join-Path $script:LogFolder $Relative
        $backups = @(New-PgBackup -Database audited, audited_too -Repository $script:Repo @script:Connection -LogPath $path -WarningVariable warnings -WarningAction SilentlyContinue -ErrorAction Stop)
        $backups.Count | Should -Be 2
        $backups.Status | Should -Be @('Succeeded', 'Succeeded')
        @($warnings | Where-Object { "$_" -like '*audit log*' }).Count | Should -Be 1 -Because $Case
        (Get-PgBackupInfo -Repository $script:Repo).Count | Should -Be 2
    }

    It 'keeps every line whole when two processes append at once' {
        $perProcess = 1000
        $module = Get-PgBackupModulePath
        $pwsh = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
        $start = Join-Path $script:LogFolder 'start'
        # Both processes wait for the same start signal, then each lists the (empty) repository $perProcess times.
        $script = @"
Import-Module '$module'
while (-not (Test-Path '$start')) { Start-Sleep -Milliseconds 10 }
for (`$i = 0; `$i -lt $perProcess; `$i++) { `$null = Get-PgBackupInfo -Repository '$($script:Repo)' -LogPath '$($script:Log)' }
"@
        $file = Join-Path $script:LogFolder 'writer.ps1'
        Set-Content -Path $file -Value $script
        $writers = 1..2 | ForEach-Object { Start-Process -FilePath $pwsh -ArgumentList '-NoProfile', '-NonInteractive', '-File', $file -PassThru }
        Start-Sleep -Seconds 3
        Set-Content -Path $start -Value go
        $writers | Wait-Process -Timeout 600
        $writers.ExitCode | Should -Be @(0, 0)

        $text = Get-Content -LiteralPath $script:Log -Raw
        $text.EndsWith("`n") | Should -BeTrue
        $lines = Read-AuditLog $script:Log
        $lines.Count | Should -Be (2 * $perProcess)
        $byProcess = $lines | Group-Object processId
        @($byProcess.Name | Sort-Object) | Should -Be @($writers.Id | Sort-Object | ForEach-Object { "$_" })
        @($byProcess | ForEach-Object Count) | Should -Be @($perProcess, $perProcess)
        @($lines | Where-Object { $_.operation -ne 'Get-PgBackupInfo' -or $_.status -ne 'Succeeded' }).Count | Should -Be 0
    }
}
