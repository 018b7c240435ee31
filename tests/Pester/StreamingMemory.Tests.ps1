# A backup streams: however large the dump, the PowerShell process's memory stays flat.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:Cluster = Start-TestCluster
    $script:Cluster.CreateDatabase('bigdb')
    # ~450 MB of row data; -CompressionLevel 0 keeps the dump that large too.
    $null = $script:Cluster.Psql('bigdb', "CREATE TABLE big AS SELECT g AS id, repeat(md5(g::text), 4) AS payload FROM generate_series(1, 3200000) g;")
    $script:Repo = New-TestFolder
}

AfterAll {
    if ($script:Cluster) { $script:Cluster.Dispose() }
    if ($script:Repo) { Remove-Item $script:Repo -Recurse -Force -ErrorAction SilentlyContinue }
}

Describe 'Backup streaming' {
    It 'keeps the peak memory of the backing-up process far below the size of a several-hundred-MB dump' {
        $result = Invoke-FreshPwsh -Script @"
`$ErrorActionPreference = 'Stop'
Import-Module '$(Get-PgBackupModulePath)'
`$before = [System.Diagnostics.Process]::GetCurrentProcess().PeakWorkingSet64
`$backup = New-PgBackup -Database bigdb -ConnectionString '$($script:Cluster.ConnectionUri('postgres'))' -Repository '$script:Repo' -CompressionLevel 0
`$peak = [System.Diagnostics.Process]::GetCurrentProcess().PeakWorkingSet64
"`$(`$backup.SizeBytes) `$before `$peak"
"@
        $result.ExitCode | Should -Be 0 -Because ($result.Output -join "`n")
        $size, $before, $peak = ($result.Output[-1] -split ' ') | ForEach-Object { [long]$_ }
        Write-Host ("dump {0:N0} MiB; pwsh peak before {1:N0} MiB, after {2:N0} MiB" -f ($size / 1MB), ($before / 1MB), ($peak / 1MB))

        $size | Should -BeGreaterThan 300MB -Because 'the dump must be large enough for the bound to mean something'
        # pwsh itself needs ~100-150 MiB; the pipeline adds one 1 MiB buffer. Generous, still far below the dump.
        $peak | Should -BeLessThan ($before + 96MB)
        $peak | Should -BeLessThan ($size / 2)
    }
}
