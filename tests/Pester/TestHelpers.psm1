# Shared by the Pester tests: import the built module, start throwaway servers (same C# fixtures the
# xunit tests use, from PgBackup.TestSupport.dll), make temp folders.

$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path

function Get-PgBackupModulePath {
    if ($env:PGBACKUP_MODULE_PATH) { return $env:PGBACKUP_MODULE_PATH }
    Join-Path $script:RepoRoot 'out/PgBackup/PgBackup.psd1'
}

function Import-TestSupport {
    $dll = Get-ChildItem (Join-Path $script:RepoRoot 'tests/PgBackup.TestSupport/bin') -Recurse -Filter PgBackup.TestSupport.dll |
        Sort-Object LastWriteTime -Descending | Select-Object -First 1
    if (-not $dll) { throw 'PgBackup.TestSupport.dll is not built: run ./build.ps1 Build first.' }
    Add-Type -Path $dll.FullName
}

function Start-TestCluster {
    # Throwaway PostgreSQL; -Password makes it demand scram-sha-256 over TCP.
    param([string] $Password)
    Import-TestSupport
    $options = [PgBackup.TestSupport.PostgresClusterOptions]::new()
    if ($Password) { $options.SuperuserPassword = $Password }
    [PgBackup.TestSupport.PostgresCluster]::Start($options)
}

function Start-TestS3rver {
    # Throwaway s3rver with its bucket; its keys go where the AWS SDK default chain finds them
    # (never on a command line). Stop-TestS3rver disposes it and removes the keys.
    Import-TestSupport
    $env:AWS_ACCESS_KEY_ID = [PgBackup.TestSupport.S3rverServer]::AccessKey
    $env:AWS_SECRET_ACCESS_KEY = [PgBackup.TestSupport.S3rverServer]::SecretKey
    [PgBackup.TestSupport.S3rverServer]::Start()
}

function Stop-TestS3rver {
    param($Server)
    Remove-Item Env:AWS_ACCESS_KEY_ID, Env:AWS_SECRET_ACCESS_KEY -ErrorAction SilentlyContinue
    if ($Server) { $Server.Dispose() }
}

function Start-TestAzurite {
    # Throwaway Azurite (blob service, telemetry off) with its container; its account and key go where
    # PgBackup's documented chain finds them (never on a command line). Stop-TestAzurite disposes it and removes them.
    Import-TestSupport
    $server = [PgBackup.TestSupport.AzuriteServer]::Start()
    $env:AZURE_STORAGE_ACCOUNT = [PgBackup.TestSupport.AzuriteServer]::AccountName
    $env:AZURE_STORAGE_KEY = $server.AccountKey
    $server
}

function Stop-TestAzurite {
    param($Server)
    Remove-Item Env:AZURE_STORAGE_ACCOUNT, Env:AZURE_STORAGE_KEY, Env:AZURE_STORAGE_CONNECTION_STRING, Env:AZURE_STORAGE_SAS_TOKEN -ErrorAction SilentlyContinue
    if ($Server) { $Server.Dispose() }
}

function New-TestFolder {
    param([string] $Prefix = 'pgbackup-pester')
    $path = Join-Path ([IO.Path]::GetTempPath()) "$Prefix-$([guid]::NewGuid().ToString('N').Substring(0, 12))"
    (New-Item -ItemType Directory -Path $path).FullName
}

function New-TestCredential {
    param([string] $UserName = 'postgres', [string] $Password = 'unused-on-trust')
    [pscredential]::new($UserName, (ConvertTo-SecureString $Password -AsPlainText -Force))
}

function Invoke-FreshPwsh {
    # Runs a script in a new pwsh process (module import checks, memory measurements); returns its stdout lines.
    param([Parameter(Mandatory)] [string] $Script)
    # $PSHOME/pwsh also exists when PowerShell runs as a dotnet tool (where this process is 'dotnet').
    $pwsh = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
    $file = Join-Path ([IO.Path]::GetTempPath()) "pgbackup-fresh-$([guid]::NewGuid().ToString('N')).ps1"
    Set-Content -Path $file -Value $Script
    try {
        $output = & $pwsh -NoProfile -NonInteractive -File $file 2>&1
        [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = @($output | ForEach-Object { "$_" }) }
    }
    finally { Remove-Item $file -ErrorAction SilentlyContinue }
}

function Get-NuGetPackagePath {
    # A file of a package that tests/tools/PgBackup.TestTools.csproj downloads (build.ps1 restores it before Pester runs).
    param([Parameter(Mandatory)] [string] $RelativePath)
    $globalPackages = ((& dotnet nuget locals global-packages -l) -replace '^global-packages:\s*', '').Trim()
    $path = Join-Path $globalPackages $RelativePath
    if (-not (Test-Path $path)) { throw "$path is missing: restore tests/tools/PgBackup.TestTools.csproj (build.ps1 Test does)." }
    $path
}

Export-ModuleMember -Function *
