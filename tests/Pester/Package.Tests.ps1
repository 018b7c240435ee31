# The package build.ps1 makes (Package task; Test makes it too), installed the way users install modules:
# Install-PSResource from a repository — here a local folder — then Import-Module by name.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    $script:PackageDir = if ($env:PGBACKUP_PACKAGE_DIR) { $env:PGBACKUP_PACKAGE_DIR } else { Join-Path $PSScriptRoot '../../out/package' }
    $script:Version = (Import-PowerShellDataFile (Get-PgBackupModulePath)).ModuleVersion
}

Describe 'The PgBackup package' {
    It 'holds the versioned module folder and a .nupkg of it' {
        $folder = Join-Path $script:PackageDir "PgBackup/$script:Version"
        (Test-ModuleManifest -Path (Join-Path $folder 'PgBackup.psd1') -ErrorAction Stop).Version | Should -Be ([version] $script:Version)
        Join-Path $folder 'dependencies/PgBackup.Core.dll' | Should -Exist
        Join-Path $script:PackageDir "PgBackup.$script:Version.nupkg" | Should -Exist
    }

    It 'installs with Install-PSResource from a local repository, imports by name and lists backups' {
        $profileRoot = New-TestFolder -Prefix 'pgbackup-install'
        $repository = New-TestFolder -Prefix 'pgbackup-installed-repo'
        New-TestBackupObjects -Database 'shop' -StartedAt ([datetime]::UtcNow.AddHours(-1)) -Hex 'beef' | Write-TestBackupObjects -Repository $repository
        # A user profile of its own (PSResourceGet's repository list, the CurrentUser module folder): nothing of this
        # machine's is touched, and nothing installed elsewhere can be picked up instead. Everything per-user then
        # derives from HOME, where PowerShell's and PSResourceGet's folders agree.
        $profileEnvironment = @{ HOME = $profileRoot; XDG_DATA_HOME = $null; XDG_CONFIG_HOME = $null; XDG_CACHE_HOME = $null; PSModulePath = $null }
        $result = Invoke-WithEnvironment $profileEnvironment {
            Invoke-FreshPwsh -Script @"
`$ErrorActionPreference = 'Stop'
# Anything PSResourceGet might write relative to the working directory lands in the test profile too.
Set-Location '$profileRoot'
[Environment]::CurrentDirectory = '$profileRoot'
Register-PSResourceRepository -Name PgBackupLocal -Uri '$script:PackageDir' -Trusted
Install-PSResource -Name PgBackup -Repository PgBackupLocal -Scope CurrentUser -Version '$script:Version'
"installed=`$((Get-InstalledPSResource -Name PgBackup).InstalledLocation)"
"modulePath=`$env:PSModulePath"
Import-Module PgBackup
`$module = Get-Module PgBackup
"base=`$(`$module.ModuleBase)"
"version=`$(`$module.Version)"
`$backups = @(Get-PgBackupInfo -Repository '$repository')
"count=`$(`$backups.Count)"
"id=`$(`$backups[0].Id)"
"type=`$(`$backups[0].GetType().FullName)"
"@
        }
        try {
            $output = $result.Output -join "`n"
            $result.ExitCode | Should -Be 0 -Because $output
            $values = @{}
            foreach ($line in $result.Output) { if ($line -match '^(\w+)=(.*)$') { $values[$Matches[1]] = $Matches[2] } }
            $values.base | Should -BeLike "$profileRoot*" -Because 'the module was installed into the test profile'
            $values.base | Should -Match "[/\\]PgBackup[/\\]$([regex]::Escape($script:Version))$"
            $values.version | Should -Be $script:Version
            $values.count | Should -Be '1' -Because $output
            $values.id | Should -BeLike 'shop_*_beef'
            $values.type | Should -Be 'PgBackup.BackupInfo'
        }
        finally {
            Remove-Item $profileRoot, $repository -Recurse -Force -ErrorAction SilentlyContinue
        }
    }
}
