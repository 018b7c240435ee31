BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:ModulePath = Get-PgBackupModulePath
}

Describe 'The built module' {
    It 'imports in a fresh pwsh and exports exactly the cmdlets its manifest lists' {
        $result = Invoke-FreshPwsh -Script @"
`$ErrorActionPreference = 'Stop'
Import-Module '$script:ModulePath'
(Get-Command -Module PgBackup | Sort-Object Name | ForEach-Object Name) -join ','
(Get-Command New-PgBackup).OutputType.Name -join ','
(Get-Command Get-PgBackupInfo).OutputType.Name -join ','
"@
        $result.ExitCode | Should -Be 0 -Because ($result.Output -join "`n")
        $manifest = Import-PowerShellDataFile $script:ModulePath
        $result.Output[0] | Should -Be (($manifest.CmdletsToExport | Sort-Object) -join ',')
        $result.Output[1] | Should -Be 'PgBackup.BackupInfo'
        $result.Output[2] | Should -Be 'PgBackup.BackupInfo,PgBackup.BackupSummary'
    }

    It 'declares PowerShell 7.4, Core edition, and exports no functions' {
        $manifest = Import-PowerShellDataFile $script:ModulePath
        $manifest.PowerShellVersion | Should -Be '7.4'
        $manifest.CompatiblePSEditions | Should -Be @('Core')
        $manifest.FunctionsToExport.Count | Should -Be 0
    }
}
