# Shared by the Pester tests: import the built module, start throwaway servers (same C# fixtures the
# xunit tests use, from PgBackup.TestSupport.dll), make temp folders.

$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path

function Get-PgBackupModulePath {
    if ($env:PGBACKUP_MODULE_PATH) { return $env:PGBACKUP_MODULE_PATH }
    Join-Path $script:RepoRoot 'out/PgBackup/PgBackup.psd1'
}

function Get-TestConfiguration {
    # The configuration build.ps1 built (Release or Debug): every test binary is taken from that one, never from
    # whichever happened to be built last.
    if ($env:PGBACKUP_CONFIGURATION) { return $env:PGBACKUP_CONFIGURATION }
    'Release'
}

function Import-TestSupport {
    $dll = Join-Path $script:RepoRoot "tests/PgBackup.TestSupport/bin/$(Get-TestConfiguration)/net8.0/PgBackup.TestSupport.dll"
    if (-not (Test-Path $dll)) { throw "$dll is not built: run ./build.ps1 Build -Configuration $(Get-TestConfiguration) first." }
    Add-Type -Path $dll
}

function Start-TestCluster {
    # Throwaway PostgreSQL; -Password makes it demand scram-sha-256 over TCP.
    param([string] $Password)
    Import-TestSupport
    $options = [PgBackup.TestSupport.PostgresClusterOptions]::new()
    if ($Password) { $options.SuperuserPassword = $Password }
    [PgBackup.TestSupport.PostgresCluster]::Start($options)
}

function Set-ProcessVariable {
    # Sets a process environment variable, or removes it for $null. ([Environment]::SetEnvironmentVariable called from
    # PowerShell would get "" for $null and leave an empty variable behind, which libpq, for one, reads as a value.)
    param([Parameter(Mandatory)] [string] $Name, [AllowNull()] [string] $Value)
    if ([string]::IsNullOrEmpty($Value)) { Remove-Item "Env:$Name" -ErrorAction SilentlyContinue }
    else { Set-Item "Env:$Name" -Value $Value }
}

function Set-ProcessVariables {
    # Sets process environment variables (a $null value unsets one); returns what was there before, for Restore-ProcessVariables.
    param([Parameter(Mandatory)] [hashtable] $Variables)
    $saved = @{}
    foreach ($name in $Variables.Keys) {
        $saved[$name] = [Environment]::GetEnvironmentVariable($name)
        Set-ProcessVariable $name $Variables[$name]
    }
    $saved
}

function Restore-ProcessVariables {
    # Puts back exactly what Set-ProcessVariables found (a variable that was absent is removed again).
    param([hashtable] $Saved)
    if ($Saved) {
        foreach ($entry in $Saved.GetEnumerator()) { Set-ProcessVariable $entry.Key $entry.Value }
    }
}

function Invoke-WithEnvironment {
    # Runs a script block with process environment variables set (a $null value unsets one), then puts back exactly
    # what was there before. Returns the script block's output.
    param([Parameter(Mandatory)] [hashtable] $Variables, [Parameter(Mandatory)] [scriptblock] $ScriptBlock)
    $saved = Set-ProcessVariables $Variables
    try { & $ScriptBlock }
    finally { Restore-ProcessVariables $saved }
}

$script:AwsKeysBeforeS3rver = $null

function Start-TestS3rver {
    # Throwaway s3rver with its bucket; its keys go where the AWS SDK default chain finds them
    # (never on a command line). Stop-TestS3rver disposes it and puts back the keys that were there before.
    Import-TestSupport
    $script:AwsKeysBeforeS3rver = Set-ProcessVariables @{
        AWS_ACCESS_KEY_ID     = [PgBackup.TestSupport.S3rverServer]::AccessKey
        AWS_SECRET_ACCESS_KEY = [PgBackup.TestSupport.S3rverServer]::SecretKey
    }
    [PgBackup.TestSupport.S3rverServer]::Start()
}

function Stop-TestS3rver {
    param($Server)
    Restore-ProcessVariables $script:AwsKeysBeforeS3rver
    $script:AwsKeysBeforeS3rver = $null
    if ($Server) { $Server.Dispose() }
}

function Import-TestAwsSdk {
    # The tests' own AWS SDK, to reach s3rver without going through the module: loaded into this session's default
    # context from the staged module's dependencies/ (the module itself keeps its copy in its private context).
    $dependencies = Join-Path (Split-Path (Get-PgBackupModulePath)) 'dependencies'
    foreach ($name in 'System.IO.Hashing', 'AWSSDK.Extensions.Numerics', 'AWSSDK.Core', 'AWSSDK.S3') {
        Add-Type -Path (Join-Path $dependencies "$name.dll")
    }
}

function New-TestS3Client {
    # A plain client straight to s3rver: path-style, no aws-chunked bodies (s3rver would store the chunk signatures).
    param([Parameter(Mandatory)] $Server)
    Import-TestAwsSdk
    $config = [Amazon.S3.AmazonS3Config]::new()
    $config.ServiceURL = $Server.Endpoint
    $config.ForcePathStyle = $true
    $config.AuthenticationRegion = 'us-east-1'
    $config.RequestChecksumCalculation = 'WHEN_REQUIRED'
    $config.ResponseChecksumValidation = 'WHEN_REQUIRED'
    [Amazon.S3.AmazonS3Client]::new([Amazon.Runtime.BasicAWSCredentials]::new([PgBackup.TestSupport.S3rverServer]::AccessKey, [PgBackup.TestSupport.S3rverServer]::SecretKey), $config)
}

function Write-TestS3Object {
    # Stores bytes under an object key through the S3 API.
    param([Parameter(Mandatory)] $Server, [Parameter(Mandatory)] [string] $Key, [Parameter(Mandatory)] [byte[]] $Bytes)
    $client = New-TestS3Client $Server
    try {
        $request = [Amazon.S3.Model.PutObjectRequest]@{ BucketName = $Server.Bucket; Key = $Key; InputStream = [IO.MemoryStream]::new($Bytes); UseChunkEncoding = $false }
        $null = $client.PutObjectAsync($request).GetAwaiter().GetResult()
    }
    finally { $client.Dispose() }
}

function Get-TestS3Keys {
    # Every object key under a prefix, sorted, listed through the S3 API.
    param([Parameter(Mandatory)] $Server, [Parameter(Mandatory)] [string] $Prefix)
    $client = New-TestS3Client $Server
    try {
        $request = [Amazon.S3.Model.ListObjectsV2Request]@{ BucketName = $Server.Bucket; Prefix = "$Prefix/" }
        $keys = [Collections.Generic.List[string]]::new()
        do {
            $page = $client.ListObjectsV2Async($request).GetAwaiter().GetResult()
            if ($page.S3Objects) { $keys.AddRange([string[]]@($page.S3Objects.Key)) }
            $request.ContinuationToken = if ($page.IsTruncated) { $page.NextContinuationToken } else { $null }
        } while ($request.ContinuationToken)
        @($keys | Sort-Object)
    }
    finally { $client.Dispose() }
}

function New-TestBackupObjects {
    # The objects of one committed backup (or Failed attempt) as the README documents the layout and the manifest:
    # YYYY/MM/DD/<database>_<yyyyMMddTHHmmssZ>_<hex>.dump and its .manifest.json. Written from the documented format
    # by the test itself, so the module's reader is checked against the format, not against its own writer.
    param(
        [Parameter(Mandatory)] [string] $Database,
        [Parameter(Mandatory)] [datetime] $StartedAt,
        [string] $Hex = '0000',
        [ValidateSet('Succeeded', 'Failed')] [string] $Status = 'Succeeded'
    )
    # Names that need no file-name encoding only: the layout percent-encodes anything else.
    if ($Database -notmatch '^[A-Za-z0-9_-]+$') { throw "Synthetic backups take plain database names only, not '$Database'." }
    $started = [datetime]::SpecifyKind($StartedAt, 'Utc')
    $id = '{0}_{1}_{2}' -f $Database, $started.ToString("yyyyMMdd'T'HHmmss'Z'", [cultureinfo]::InvariantCulture), $Hex
    $artifactKey = '{0}/{1}.dump' -f $started.ToString('yyyy/MM/dd', [cultureinfo]::InvariantCulture), $id
    $manifest = [ordered]@{
        schemaVersion = 1; tool = 'PgBackup'; toolVersion = 'test'; id = $id; database = $Database; server = '127.0.0.1:5432'
        startedAt = $started.ToString('o'); completedAt = $started.AddSeconds(30).ToString('o'); durationSeconds = 30
        format = 'Custom'; compression = 'None'; status = $Status
    }
    $artifactBytes = $null
    if ($Status -eq 'Succeeded') {
        $artifactBytes = [Text.Encoding]::UTF8.GetBytes("synthetic $id " + ('x' * 100))
        $manifest.artifact = $artifactKey.Substring($artifactKey.LastIndexOf('/') + 1)
        $manifest.sizeBytes = $artifactBytes.Length
        $manifest.sha256 = [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($artifactBytes)).ToLowerInvariant()
    }
    else { $manifest.error = 'synthetic failure' }
    [pscustomobject]@{
        Id            = $id
        ArtifactKey   = $artifactKey
        ArtifactBytes = $artifactBytes
        ManifestKey   = "$artifactKey.manifest.json"
        ManifestBytes = [Text.Encoding]::UTF8.GetBytes(($manifest | ConvertTo-Json))
    }
}

function Write-TestBackupObjects {
    # Writes New-TestBackupObjects output the way a commit does: the artifact first, then the manifest. The repository
    # is a folder, an s3:// location of -S3Server's bucket, or a path-style URL of -AzureServer's account
    # (<service endpoint>/<container>/<prefix>); objects go through that server's own API, never through the module.
    param([Parameter(Mandatory, ValueFromPipeline)] $Objects, [Parameter(Mandatory)] [string] $Repository, $S3Server, $AzureServer)
    process {
        foreach ($entry in @(@($Objects.ArtifactKey, $Objects.ArtifactBytes), @($Objects.ManifestKey, $Objects.ManifestBytes))) {
            $key, $bytes = $entry
            if ($null -eq $bytes) { continue }
            if ($Repository.StartsWith('s3://')) {
                if (-not $S3Server) { throw "Writing to $Repository needs -S3Server." }
                $prefix = $Repository -replace '^s3://[^/]+/?', ''
                Write-TestS3Object -Server $S3Server -Key (($prefix, $key | Where-Object { $_ }) -join '/') -Bytes $bytes
            }
            elseif ($AzureServer -and $Repository.StartsWith("$($AzureServer.ServiceEndpoint)/")) {
                $container, $prefix = $Repository.Substring($AzureServer.ServiceEndpoint.Length + 1).Split('/', 2)
                $AzureServer.PutBlob($container, (($prefix, $key | Where-Object { $_ }) -join '/'), $bytes)
            }
            elseif ($Repository -match '^[a-z0-9]+://') { throw "No test server given for $Repository." }
            else {
                $path = Join-Path $Repository $key
                $null = New-Item -ItemType Directory -Force -Path (Split-Path $path)
                [IO.File]::WriteAllBytes($path, $bytes)
            }
        }
    }
}

$script:AzureVariablesBeforeAzurite = $null

function Start-TestAzurite {
    # Throwaway Azurite (blob service, telemetry off) with its container; its account and key go where PgBackup's
    # documented chain finds them (never on a command line), and no other Azure secret of this process gets in their
    # way. Stop-TestAzurite disposes it and puts back the variables that were there before.
    Import-TestSupport
    $server = [PgBackup.TestSupport.AzuriteServer]::Start()
    $script:AzureVariablesBeforeAzurite = Set-ProcessVariables @{
        AZURE_STORAGE_ACCOUNT           = [PgBackup.TestSupport.AzuriteServer]::AccountName
        AZURE_STORAGE_KEY               = $server.AccountKey
        AZURE_STORAGE_CONNECTION_STRING = $null
        AZURE_STORAGE_SAS_TOKEN         = $null
    }
    $server
}

function Stop-TestAzurite {
    param($Server)
    Restore-ProcessVariables $script:AzureVariablesBeforeAzurite
    $script:AzureVariablesBeforeAzurite = $null
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

function New-TestGpgHome {
    # A private gpg home (0700, short and under /tmp: gpg-agent's socket path must stay under the Unix limit).
    $path = Join-Path '/tmp' "pgb-gpg-$([guid]::NewGuid().ToString('N').Substring(0, 10))"
    $null = New-Item -ItemType Directory -Path $path
    if (-not $IsWindows) { [IO.File]::SetUnixFileMode($path, [IO.UnixFileMode]'UserRead, UserWrite, UserExecute') }
    $path
}

function Remove-TestGpgHome {
    param([string] $GnuPGHome)
    if (-not $GnuPGHome) { return }
    Invoke-WithEnvironment @{ GNUPGHOME = $GnuPGHome } { gpgconf --kill all 2>$null }
    Remove-Item $GnuPGHome -Recurse -Force -ErrorAction SilentlyContinue
}

function Invoke-TestGpg {
    # gpg in batch mode in a test gpg home; a passphrase goes to its standard input (--passphrase-fd 0), never argv.
    # Returns stdout (status lines with --status-fd 1) and sets $LASTEXITCODE.
    param([Parameter(Mandatory)] [string] $GnuPGHome, [Parameter(Mandatory)] [string[]] $Arguments, [AllowNull()] [string] $Passphrase)
    Invoke-WithEnvironment @{ GNUPGHOME = $GnuPGHome; LC_ALL = 'C' } {
        $common = @('--batch', '--no-tty', '--yes', '--pinentry-mode', 'loopback')
        if ($null -ne $Passphrase) { $Passphrase | gpg @common --passphrase-fd 0 @Arguments 2>$null }
        else { gpg @common @Arguments 2>$null }
    }
}

function New-TestSigningKey {
    # A gpg-made ed25519 signing key, exported armored next to the gpg home's keyring: SecretKeyFile, PublicKeyFile,
    # Fingerprint. An empty -Passphrase makes an unprotected key (as an unattended backup host would keep one).
    param([Parameter(Mandatory)] [string] $GnuPGHome, [Parameter(Mandatory)] [string] $Name, [string] $Passphrase = '')
    $userId = "$Name <$Name@pgbackup.test>"
    $null = Invoke-TestGpg $GnuPGHome @('--quick-gen-key', $userId, 'ed25519', 'sign', 'never') -Passphrase $Passphrase
    if ($LASTEXITCODE) { throw "gpg --quick-gen-key $userId failed ($LASTEXITCODE)." }
    $fingerprint = (@(Invoke-TestGpg $GnuPGHome @('--with-colons', '--list-keys', $userId)) | Where-Object { $_ -like 'fpr:*' } | Select-Object -First 1).Split(':')[9]
    $key = [pscustomobject]@{ Fingerprint = $fingerprint; SecretKeyFile = Join-Path $GnuPGHome "$Name.sec.asc"; PublicKeyFile = Join-Path $GnuPGHome "$Name.pub.asc" }
    $null = Invoke-TestGpg $GnuPGHome @('--armor', '--output', $key.SecretKeyFile, '--export-secret-keys', $fingerprint) -Passphrase $Passphrase
    $null = Invoke-TestGpg $GnuPGHome @('--armor', '--output', $key.PublicKeyFile, '--export', $fingerprint)
    if (-not (Test-Path $key.SecretKeyFile) -or -not (Test-Path $key.PublicKeyFile)) { throw "gpg did not export the key $userId." }
    $key
}

Export-ModuleMember -Function *
