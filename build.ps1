<#
.SYNOPSIS
    The front door for building, testing and demonstrating PgBackup.

.DESCRIPTION
    Tasks (run one or several, in order):

      Build   Compiles the solution (Release) and stages the importable module under out/PgBackup/.
      Test    Build, then every test: xunit (unit, real PostgreSQL, real s3rver and Azurite, hosted module)
              and Pester (the built module in pwsh). Ends with one line "N passed, N failed" and
              exits non-zero when anything failed.
      Demo    Build, then start a throwaway PostgreSQL, load the bundled Northwind sample, back it
              up into out/demo-repository, list it, test it by restoring it into a throwaway
              database, damage the live database and repair it with Restore-PgBackup, show what
              retention would remove (-WhatIf) and the repository summary, and stop the server
              (tests/demo/Invoke-Demo.ps1).
      Benchmark  Build, then time the cmdlets against the raw PostgreSQL tools on a generated
              database of -SizeMB megabytes (tests/benchmark/Invoke-Benchmark.ps1); prints ratios.
      Clean   Removes out/ and every bin/ and obj/ folder.

    Needs only the .NET SDK plus the PostgreSQL server and client tools (and Node.js for the S3 and Azure tests);
    PowerShell itself comes from the repository's dotnet tool manifest:

      dotnet tool restore && dotnet pwsh ./build.ps1 Demo
      dotnet tool restore && dotnet pwsh ./build.ps1 Test

.PARAMETER Task
    One or more of Build, Test, Demo, Clean. Default: Build.

.PARAMETER Configuration
    Release (default) or Debug.

.PARAMETER Filter
    For Test: run only xunit tests whose full name contains this text and Pester tests whose name
    matches it (-like *Filter*). For quick local iterations; CI runs everything.
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('Build', 'Test', 'Demo', 'Benchmark', 'Clean')]
    [string[]] $Task = @('Build'),

    [ValidateSet('Release', 'Debug')]
    [string] $Configuration = 'Release',

    [string] $Filter,

    # For Benchmark: the size of the generated database.
    [int] $SizeMB = 200
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$Root = $PSScriptRoot
$OutDir = Join-Path $Root 'out'
$ModuleDir = Join-Path $OutDir 'PgBackup'
$TestResultsDir = Join-Path $OutDir 'test-results'

function Invoke-Native {
    # Runs a native command and stops the build when it fails (PowerShell does not, by default).
    param([string] $FilePath, [string[]] $ArgumentList)
    & $FilePath @ArgumentList
    if ($LASTEXITCODE -ne 0) { throw "$FilePath $($ArgumentList -join ' ') failed with exit code $LASTEXITCODE." }
}

function Invoke-BuildTask {
    # Synopsis: compile everything and stage the importable module under out/PgBackup/.
    Invoke-Native dotnet @('build', (Join-Path $Root 'PgBackup.sln'), '-c', $Configuration, '-nologo', '-v', 'quiet', '-clp:ErrorsOnly')

    if (Test-Path $ModuleDir) { Remove-Item $ModuleDir -Recurse -Force }
    $null = New-Item -ItemType Directory -Path $ModuleDir -Force
    $binaries = Join-Path $Root "src/PgBackup/bin/$Configuration/net8.0"
    # Only the cmdlets load into the session's default AssemblyLoadContext. PgBackup.Core and everything it
    # pulls in (Npgsql, AWSSDK, …) go to dependencies/, loaded into PgBackup's own context
    # (src/PgBackup/Loading), so other modules' versions of the same assemblies never clash with ours.
    Copy-Item (Join-Path $binaries 'PgBackup.dll'), (Join-Path $binaries 'PgBackup.Format.ps1xml') -Destination $ModuleDir
    $dependencies = New-Item -ItemType Directory -Path (Join-Path $ModuleDir 'dependencies')
    Get-ChildItem $binaries -File -Filter *.dll | Where-Object Name -ne 'PgBackup.dll' | Copy-Item -Destination $dependencies
    Copy-Item (Join-Path $Root 'PgBackup.psd1') -Destination $ModuleDir
    Write-Host "Module staged in $ModuleDir"
}

function Get-PesterModulePath {
    # Pester comes from NuGet (PSGallery is not reachable from CI): restore the tools project, then import from global-packages.
    Invoke-Native dotnet @('restore', (Join-Path $Root 'tests/tools/PgBackup.TestTools.csproj'), '-v', 'quiet')
    $globalPackages = (& dotnet nuget locals global-packages -l) -replace '^global-packages:\s*', ''
    $path = Join-Path $globalPackages.Trim() 'pester/5.7.1/tools/Pester.psd1'
    if (-not (Test-Path $path)) { throw "Pester was not restored to $path." }
    $path
}

function Initialize-NodePackages {
    # s3rver and Azurite (the S3 and Azure Blob APIs the tests talk to) are npm packages pinned in package-lock.json.
    if (-not (Test-Path (Join-Path $Root 'package.json'))) { return }
    if (Test-Path (Join-Path $Root 'node_modules/.package-lock.json')) { return }
    if (-not (Get-Command npm -ErrorAction SilentlyContinue)) {
        Write-Warning 'npm is not installed: S3 and Azure tests will fail. Install Node.js 20+.'
        return
    }
    Push-Location $Root
    try { Invoke-Native npm @('ci', '--no-audit', '--no-fund', '--loglevel=error') } finally { Pop-Location }
}

function Invoke-XunitTests {
    $trx = 'xunit.trx'
    $arguments = @('test', (Join-Path $Root 'tests/PgBackup.Tests/PgBackup.Tests.csproj'), '-c', $Configuration, '--no-build', '-nologo',
        '--results-directory', $TestResultsDir, '--logger', "trx;LogFileName=$trx", '--logger', 'console;verbosity=normal')
    if ($Filter) { $arguments += @('--filter', "FullyQualifiedName~$Filter") }
    & dotnet @arguments | Out-Host
    $trxPath = Join-Path $TestResultsDir $trx
    if (-not (Test-Path $trxPath)) {
        Write-Warning 'xunit produced no results file: counting the run as one failure.'
        return [pscustomobject]@{ Passed = 0; Failed = 1 }
    }
    [xml] $results = Get-Content $trxPath -Raw
    $counters = $results.TestRun.ResultSummary.Counters
    $failed = [int]$counters.failed + [int]$counters.error + [int]$counters.timeout + [int]$counters.aborted + [int]$counters.notExecuted
    # A test host crash leaves fewer executed than discovered: count the difference as failures.
    $failed += [Math]::Max(0, [int]$counters.total - [int]$counters.executed - [int]$counters.notExecuted)
    if ($LASTEXITCODE -ne 0 -and $failed -eq 0) { $failed = 1 }
    [pscustomobject]@{ Passed = [int]$counters.passed; Failed = $failed }
}

function Invoke-PesterTests {
    # Pester runs in a child pwsh so the module it imports never locks this session's files.
    $pester = Get-PesterModulePath
    $resultFile = Join-Path $TestResultsDir 'pester.json'
    if (Test-Path $resultFile) { Remove-Item $resultFile }
    $script = @'
param($PesterPath, $TestsPath, $ResultFile, $Filter)
Import-Module $PesterPath -Force
$config = New-PesterConfiguration
$config.Run.Path = $TestsPath
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
if ($Filter) { $config.Filter.FullName = "*$Filter*" }
$result = Invoke-Pester -Configuration $config
[pscustomobject]@{
    Passed = $result.PassedCount
    # Nothing is ever skipped on purpose here: a skipped test counts as a failed one.
    Failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount + $result.SkippedCount
} | ConvertTo-Json | Set-Content -Path $ResultFile
'@
    $scriptPath = Join-Path $TestResultsDir 'run-pester.ps1'
    Set-Content -Path $scriptPath -Value $script
    $pwsh = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
    & $pwsh -NoProfile -NonInteractive -File $scriptPath -PesterPath $pester -TestsPath (Join-Path $Root 'tests/Pester') -ResultFile $resultFile -Filter $Filter | Out-Host
    if (-not (Test-Path $resultFile)) {
        Write-Warning 'Pester produced no result: counting the run as one failure.'
        return [pscustomobject]@{ Passed = 0; Failed = 1 }
    }
    Get-Content $resultFile -Raw | ConvertFrom-Json
}

function Invoke-TestTask {
    # Synopsis: build, then run xunit and Pester; print "N passed, N failed"; exit non-zero on any failure.
    Invoke-BuildTask
    Initialize-NodePackages
    $null = New-Item -ItemType Directory -Path $TestResultsDir -Force
    $env:PGBACKUP_MODULE_PATH = Join-Path $ModuleDir 'PgBackup.psd1'
    $xunit = Invoke-XunitTests
    $pester = Invoke-PesterTests
    $passed = $xunit.Passed + $pester.Passed
    $failed = $xunit.Failed + $pester.Failed
    Write-Host "xunit: $($xunit.Passed) passed, $($xunit.Failed) failed; Pester: $($pester.Passed) passed, $($pester.Failed) failed"
    # The closing line CI reads: alone on its line, last.
    [Console]::Out.WriteLine("$passed passed, $failed failed")
    [Console]::Out.Flush()
    if ($failed -gt 0 -or $passed -eq 0) { exit 1 }
}

function Invoke-DemoTask {
    # Synopsis: throwaway PostgreSQL + Northwind -> back up, list, test by restoring, repair an accident by restoring, expire (-WhatIf), summarize.
    Invoke-BuildTask
    & (Join-Path $Root 'tests/demo/Invoke-Demo.ps1') -ModulePath (Join-Path $ModuleDir 'PgBackup.psd1') -TestSupportPath (Join-Path $Root "tests/PgBackup.TestSupport/bin/$Configuration/net8.0/PgBackup.TestSupport.dll") -Repository (Join-Path $OutDir 'demo-repository')
}

function Invoke-BenchmarkTask {
    # Synopsis: time the cmdlets against pg_dump/pg_restore on a generated database; print ratios.
    Invoke-BuildTask
    & (Join-Path $Root 'tests/benchmark/Invoke-Benchmark.ps1') -SizeMB $SizeMB -ModulePath (Join-Path $ModuleDir 'PgBackup.psd1') -TestSupportPath (Join-Path $Root "tests/PgBackup.TestSupport/bin/$Configuration/net8.0/PgBackup.TestSupport.dll")
}

function Invoke-CleanTask {
    # Synopsis: remove build output.
    if (Test-Path $OutDir) { Remove-Item $OutDir -Recurse -Force }
    Get-ChildItem $Root -Directory -Recurse -Include bin, obj -ErrorAction SilentlyContinue |
        Where-Object { $_.FullName -notmatch 'node_modules' } | Remove-Item -Recurse -Force
}

foreach ($name in $Task) {
    Write-Host "== $name" -ForegroundColor Cyan
    & "Invoke-${name}Task"
}
