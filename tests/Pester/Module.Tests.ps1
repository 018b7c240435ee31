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

Describe 'The module manifest' {
    It 'passes Test-ModuleManifest and carries the one version of Directory.Build.props, as do the assemblies' {
        $manifest = Test-ModuleManifest -Path $script:ModulePath -ErrorAction Stop
        $props = [xml] (Get-Content -Raw (Join-Path $PSScriptRoot '../../Directory.Build.props'))
        $version = @($props.Project.PropertyGroup | ForEach-Object { $_.Version } | Where-Object { $_ })[0]
        $version | Should -Not -BeNullOrEmpty
        $manifest.Version | Should -Be ([version] $version)
        $manifest.RequiredAssemblies | Should -Contain 'PgBackup.Types.dll'
        $folder = Split-Path $script:ModulePath
        foreach ($dll in (Join-Path $folder 'PgBackup.dll'), (Join-Path $folder 'PgBackup.Types.dll'), (Join-Path $folder 'dependencies/PgBackup.Core.dll')) {
            [Diagnostics.FileVersionInfo]::GetVersionInfo($dll).ProductVersion -replace '\+.*$' | Should -Be $version -Because $dll
        }
    }

    It 'says MIT, and the module ships that LICENSE' {
        (Import-PowerShellDataFile $script:ModulePath).Copyright | Should -Match 'MIT License'
        $license = Join-Path (Split-Path $script:ModulePath) 'LICENSE'
        Get-Content -Raw $license | Should -Match '^MIT License'
        Get-Content -Raw $license | Should -Be (Get-Content -Raw (Join-Path $PSScriptRoot '../../LICENSE'))
    }
}

Describe 'build.ps1' {
    It 'documents every task it accepts, and each task function has a synopsis' {
        $script = Join-Path $PSScriptRoot '../../build.ps1'
        $tasks = (Get-Command $script).Parameters.Task.Attributes.Where({ $_ -is [ValidateSet] }).ValidValues
        $tasks | Should -Be @('Build', 'Test', 'Demo', 'Benchmark', 'Package', 'Clean')
        $description = (Get-Help $script -Full).Description.Text -join "`n"
        $source = Get-Content -Raw $script
        foreach ($task in $tasks) {
            $description | Should -Match "(?m)^\s+$task\s+\S" -Because "the help describes $task"
            $source | Should -Match "(?s)function Invoke-${task}Task \{\s*# Synopsis: \S" -Because "Invoke-${task}Task says what it does"
        }
        (Get-Help $script -Full).Parameters.Parameter.Name | Should -Contain 'Task'
    }
}
