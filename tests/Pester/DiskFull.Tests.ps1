# A repository whose disk fills up mid-backup (issue 9, defect 3): the failing database is reported with a stable
# ErrorId, its partial file is gone (freeing the disk), its attempt is recorded, and the next database still runs.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-PgBackupModulePath) -Force
    $script:Cluster = Start-TestCluster
    $script:Connection = @{ Server = $script:Cluster.Host; Port = $script:Cluster.Port; Credential = New-TestCredential }
    # ~25 MB of hex that gzip cannot shrink below ~10 MB: far more than the 4 MiB disk.
    $script:Cluster.CreateDatabase('full_a')
    $null = $script:Cluster.Psql('full_a', 'CREATE TABLE big AS SELECT g AS id, md5(random()::text) || md5(random()::text) || md5(random()::text) AS payload FROM generate_series(1, 250000) g;')
    $script:Cluster.CreateDatabase('full_b')
    $null = $script:Cluster.Psql('full_b', 'CREATE TABLE small AS SELECT g AS id FROM generate_series(1, 10) g;')
}

AfterAll {
    if ($script:Cluster) { $script:Cluster.Dispose() }
}

Describe 'New-PgBackup on a full disk' {
    BeforeEach {
        $script:Disk = [PgBackup.TestSupport.TmpfsMount]::Create(4)
    }
    AfterEach {
        if ($script:Disk) { $script:Disk.Dispose() }
    }

    It 'reports RepositoryFull for the database that did not fit, removes its partial file, records it, and backs up the next one' {
        $backups = 'full_a', 'full_b' | New-PgBackup -Repository $script:Disk.Path @script:Connection -ErrorVariable failures -ErrorAction SilentlyContinue

        $failures.Count | Should -Be 1
        $failures[0].FullyQualifiedErrorId | Should -Be 'RepositoryFull,PgBackup.Commands.NewPgBackupCommand'
        $failures[0].TargetObject | Should -Be 'full_a'
        $failures[0].Exception.Message | Should -Match 'full'
        $failures[0].Exception.Message | Should -Match '\d+(\.\d+)? (bytes|KiB|MiB)'
        @(Get-ChildItem $script:Disk.Path -Recurse -File -Filter '*.partial').Count | Should -Be 0

        $backups.Count | Should -Be 1
        $backups[0].Database | Should -Be 'full_b'
        $backups[0].Status | Should -Be 'Succeeded'
        $recorded = @(Get-PgBackupInfo -Repository $script:Disk.Path | Where-Object Database -eq 'full_a')
        $recorded.Count | Should -Be 1
        $recorded[0].Status | Should -Be 'Failed'
        $recorded[0].Error | Should -Match 'full'
    }
}
