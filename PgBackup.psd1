@{
    RootModule           = 'PgBackup.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '6f0f2a3e-7b8c-4d1e-9a55-2c4b1d7e9f30'
    Author               = 'PgBackup contributors'
    CompanyName          = 'PgBackup'
    Copyright            = '(c) PgBackup contributors. MIT License.'
    Description          = 'Back up PostgreSQL databases to local folders or S3, test the backups by restoring them, restore safely, and expire old ones: typed cmdlets that pipe into each other.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
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
