@{
    RootModule           = 'PgBackup.dll'
    # Filled in by build.ps1 from <Version> in Directory.Build.props, the one place the version is written.
    ModuleVersion        = '{{Version}}'
    GUID                 = '6f0f2a3e-7b8c-4d1e-9a55-2c4b1d7e9f30'
    Author               = 'PgBackup contributors'
    CompanyName          = 'PgBackup'
    Copyright            = '(c) PgBackup contributors. MIT License.'
    Description          = 'Back up PostgreSQL databases to local folders or S3, test the backups by restoring them, restore safely, and expire old ones: typed cmdlets that pipe into each other.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    # The output types (PgBackup.BackupInfo, …) load into the session's default context before the cmdlets, so
    # [PgBackup.BackupInfo] resolves in scripts; RequiredAssemblies, not NestedModules: it holds no cmdlets.
    RequiredAssemblies   = @('PgBackup.Types.dll')
    FormatsToProcess     = @('PgBackup.Format.ps1xml')
    CmdletsToExport      = @(
        'New-PgBackup'
        'Get-PgBackupInfo'
        'Remove-PgBackupExpired'
        'Restore-PgBackup'
        'Test-PgBackup'
    )
    FunctionsToExport    = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('PostgreSQL', 'Postgres', 'Backup', 'Restore', 'pg_dump', 'S3', 'Linux', 'Windows', 'macOS')
        }
    }
}
