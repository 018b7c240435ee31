<#
.SYNOPSIS
    The front door for building, testing, packaging and demonstrating PgBackup.

.DESCRIPTION
    Tasks (run one or several, in order):

      Build      Compiles the solution and stages the importable module under out/PgBackup/ (the manifest's
                 ModuleVersion filled in from <Version> in Directory.Build.props), with its help (en-US/, MAML and
                 about_PgBackup, built from the markdown in src/PgBackup/help).
      Test       Build, then every test: xunit (unit, real PostgreSQL, real s3rver and Azurite, the hosted module) and Pester
                 (the built module in pwsh, and the package installed with Install-PSResource). Ends with one line
                 "N passed, N failed" and exits non-zero when anything failed.
      Demo       Build, then start a throwaway PostgreSQL, load the bundled Northwind sample, back it up into
                 out/demo-repository, list it, test it by restoring it into a throwaway database, damage the live
                 database and repair it with Restore-PgBackup, show what retention would remove (-WhatIf) and the
                 repository summary, and stop the server (tests/demo/Invoke-Demo.ps1).
      Benchmark  Build, then time the cmdlets against the raw PostgreSQL tools on a generated database of
                 -SizeMB megabytes (tests/benchmark/Invoke-Benchmark.ps1): defaults, each compression, directory
                 with 1/2/4 jobs, S3, restore and checksum against the expert's pipeline, pg_dump -Fc, pg_dump -Fd -j n,
                 pg_restore -j 2, sha256sum and sha256sum && zstd -t (commands interleaved round by round, medians);
                 prints a table of ratios and writes it to out/benchmark.json.
      Package    Build, then out/package/PgBackup/<version>/ (the module folder as Install-PSResource lays it out)
                 and out/package/PgBackup.<version>.nupkg, installable from a local repository:
                   Register-PSResourceRepository -Name PgBackupLocal -Uri ./out/package -Trusted
                   Install-PSResource -Name PgBackup -Repository PgBackupLocal
      Clean      Removes out/ and every bin/ and obj/ folder.

    Needs only the .NET SDK plus the PostgreSQL server and client tools (and Node.js for the S3 and Azure tests);
    PowerShell itself comes from the repository's dotnet tool manifest:

      dotnet tool restore && dotnet pwsh ./build.ps1 Demo
      dotnet tool restore && dotnet pwsh ./build.ps1 Test

.PARAMETER Task
    One or more of Build, Test, Demo, Benchmark, Package, Clean. Default: Build.

.PARAMETER Configuration
    Release (default) or Debug. Every task — and every test binary the tests load — uses this one.

.PARAMETER Filter
    For Test: run only xunit tests whose full name contains this text and Pester tests whose name
    matches it (-like *Filter*). For quick local iterations; CI runs everything.

.PARAMETER SizeMB
    For Benchmark: the size of the generated database (default 200).

.PARAMETER Repeat
    For Benchmark: runs per measurement; the median is reported (default 3).

.EXAMPLE
    ./build.ps1 Test -Filter Restore

.EXAMPLE
    ./build.ps1 Package
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('Build', 'Test', 'Demo', 'Benchmark', 'Package', 'Clean')]
    [string[]] $Task = @('Build'),

    [ValidateSet('Release', 'Debug')]
    [string] $Configuration = 'Release',

    [string] $Filter,

    [int] $SizeMB = 200,

    [int] $Repeat = 3
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
$Root = $PSScriptRoot
$OutDir = Join-Path $Root 'out'
$ModuleDir = Join-Path $OutDir 'PgBackup'
$TestResultsDir = Join-Path $OutDir 'test-results'
$PackageDir = Join-Path $OutDir 'package'

function Get-ModuleVersion {
    # The version is written once, in Directory.Build.props; the assemblies get it from MSBuild, the manifest from here.
    $props = [xml] (Get-Content -Raw (Join-Path $Root 'Directory.Build.props'))
    $version = @($props.Project.PropertyGroup | ForEach-Object { $_.Version } | Where-Object { $_ })[0]
    if (-not $version) { throw 'Directory.Build.props has no <Version>.' }
    $version
}

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
    # Only the cmdlets and the output types load into the session's default AssemblyLoadContext. PgBackup.Core and
    # everything it pulls in (Npgsql, AWSSDK, …) go to dependencies/, loaded into PgBackup's own context
    # (src/PgBackup/Loading), so other modules' versions of the same assemblies never clash with ours.
    $defaultContext = 'PgBackup.dll', 'PgBackup.Types.dll'
    Copy-Item ($defaultContext + 'PgBackup.Format.ps1xml' | ForEach-Object { Join-Path $binaries $_ }) -Destination $ModuleDir
    $dependencies = New-Item -ItemType Directory -Path (Join-Path $ModuleDir 'dependencies')
    Get-ChildItem $binaries -File -Filter *.dll | Where-Object Name -notin $defaultContext | Copy-Item -Destination $dependencies
    $manifest = Get-Content -Raw (Join-Path $Root 'src/PgBackup/PgBackup.psd1')
    if ($manifest -notmatch "ModuleVersion\s*=\s*'\{\{Version\}\}'") { throw 'src/PgBackup/PgBackup.psd1 must say ModuleVersion = ''{{Version}}'' (build.ps1 fills it in).' }
    Set-Content -Path (Join-Path $ModuleDir 'PgBackup.psd1') -Value ($manifest -replace '\{\{Version\}\}', (Get-ModuleVersion)) -NoNewline
    Copy-Item (Join-Path $Root 'LICENSE') -Destination $ModuleDir
    Build-ModuleHelp
    Write-Host "Module staged in $ModuleDir"
}

function Build-ModuleHelp {
    # Get-Help's text for the cmdlets and about_PgBackup, from the markdown under src/PgBackup/help (see its README):
    # en-US/PgBackup.dll-Help.xml (MAML, named after the assembly holding the cmdlets) next to PgBackup.dll, and the
    # about topic. A child pwsh imports the staged module, so types and parameter sets come from the real cmdlets
    # and this session never loads (or locks) PgBackup.dll; a parameter without text stops the build.
    $helpSource = Join-Path $Root 'src/PgBackup/help'
    $culture = New-Item -ItemType Directory -Path (Join-Path $ModuleDir 'en-US') -Force
    $script = @'
param($HelpSource, $ModulePath, $Destination)
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $HelpSource 'HelpMarkdown.psm1')
Import-Module $ModulePath
$help = @{}
Get-ChildItem (Join-Path $HelpSource 'en-US') -Filter '*-*.md' | ForEach-Object { $source = ConvertFrom-HelpMarkdown $_.FullName; $help[$source.Name] = $source }
$shared = @{}
$common = ConvertFrom-HelpMarkdown (Join-Path $HelpSource 'en-US/SharedParameters.md')
foreach ($name in $common.Parameters.Keys) { $shared[$name] = $common.Parameters[$name] }
$metadata = @(Get-Command -Module PgBackup -CommandType Cmdlet | Sort-Object Name | ForEach-Object { Get-CmdletHelpMetadata $_ })
$xml = ConvertTo-MamlHelp -Metadata $metadata -Help $help -SharedParameters $shared
[IO.File]::WriteAllText($Destination, $xml, [Text.UTF8Encoding]::new($false))
'@
    $scriptPath = Join-Path ([IO.Path]::GetTempPath()) "pgbackup-help-$([guid]::NewGuid().ToString('N')).ps1"
    Set-Content -Path $scriptPath -Value $script
    try {
        $pwsh = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
        Invoke-Native $pwsh @('-NoProfile', '-NonInteractive', '-File', $scriptPath, '-HelpSource', $helpSource,
            '-ModulePath', (Join-Path $ModuleDir 'PgBackup.psd1'), '-Destination', (Join-Path $culture 'PgBackup.dll-Help.xml'))
    }
    finally { Remove-Item $scriptPath -ErrorAction SilentlyContinue }
    Copy-Item (Join-Path $helpSource 'en-US/about_PgBackup.help.txt') -Destination $culture
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
    # Two test projects: PgBackup.Tests (the engine, referenced directly) and PgBackup.Module.Tests (the staged module
    # hosted in PowerShell, referencing none of its assemblies). One results file each, counted together.
    $total = [pscustomobject]@{ Passed = 0; Failed = 0 }
    foreach ($project in 'PgBackup.Tests', 'PgBackup.Module.Tests') {
        $trx = "$project.trx"
        $arguments = @('test', (Join-Path $Root "tests/$project/$project.csproj"), '-c', $Configuration, '--no-build', '-nologo',
            '--results-directory', $TestResultsDir, '--logger', "trx;LogFileName=$trx", '--logger', 'console;verbosity=normal')
        if ($Filter) { $arguments += @('--filter', "FullyQualifiedName~$Filter") }
        & dotnet @arguments | Out-Host
        $exitCode = $LASTEXITCODE
        $trxPath = Join-Path $TestResultsDir $trx
        if (-not (Test-Path $trxPath)) {
            if ($Filter -and $exitCode -eq 0) { continue }   # the filter matched nothing in this project
            Write-Warning "$project produced no results file: counting the run as one failure."
            $total.Failed += 1
            continue
        }
        [xml] $results = Get-Content $trxPath -Raw
        $counters = $results.TestRun.ResultSummary.Counters
        $failed = [int]$counters.failed + [int]$counters.error + [int]$counters.timeout + [int]$counters.aborted + [int]$counters.notExecuted
        # A test host crash leaves fewer executed than discovered: count the difference as failures.
        $failed += [Math]::Max(0, [int]$counters.total - [int]$counters.executed - [int]$counters.notExecuted)
        if ($exitCode -ne 0 -and $failed -eq 0) { $failed = 1 }
        $total.Passed += [int]$counters.passed
        $total.Failed += $failed
    }
    $total
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
    New-ModulePackage
    Initialize-NodePackages
    if (Test-Path $TestResultsDir) { Remove-Item $TestResultsDir -Recurse -Force }
    $null = New-Item -ItemType Directory -Path $TestResultsDir -Force
    # What the tests load: the staged module, its package, and test binaries of this configuration only.
    $env:PGBACKUP_MODULE_PATH = Join-Path $ModuleDir 'PgBackup.psd1'
    $env:PGBACKUP_PACKAGE_DIR = $PackageDir
    $env:PGBACKUP_CONFIGURATION = $Configuration
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

function New-ModulePackage {
    # out/package/PgBackup/<version>/ (the staged module, as Install-PSResource lays it out) and the .nupkg that
    # Install-PSResource installs from a local repository, made by PSResourceGet itself (Compress-PSResource).
    $version = Get-ModuleVersion
    if (Test-Path $PackageDir) { Remove-Item $PackageDir -Recurse -Force }
    $folder = New-Item -ItemType Directory -Path (Join-Path $PackageDir "PgBackup/$version")
    Copy-Item (Join-Path $ModuleDir '*') -Destination $folder -Recurse
    $null = Test-ModuleManifest -Path (Join-Path $folder 'PgBackup.psd1') -ErrorAction Stop
    Compress-PSResource -Path $folder -DestinationPath $PackageDir
    $nupkg = Join-Path $PackageDir "PgBackup.$version.nupkg"
    if (-not (Test-Path $nupkg)) { throw "Compress-PSResource wrote no $nupkg." }
    Write-Host "Packaged $folder and $nupkg"
}

function Invoke-PackageTask {
    # Synopsis: build, then the installable module folder out/package/PgBackup/<version>/ and out/package/PgBackup.<version>.nupkg.
    Invoke-BuildTask
    New-ModulePackage
}

function Invoke-DemoTask {
    # Synopsis: throwaway PostgreSQL + Northwind -> back up, list, test by restoring, repair an accident by restoring, expire (-WhatIf), summarize.
    Invoke-BuildTask
    & (Join-Path $Root 'tests/demo/Invoke-Demo.ps1') -ModulePath (Join-Path $ModuleDir 'PgBackup.psd1') -TestSupportPath (Join-Path $Root "tests/PgBackup.TestSupport/bin/$Configuration/net8.0/PgBackup.TestSupport.dll") -Repository (Join-Path $OutDir 'demo-repository')
}

function Invoke-BenchmarkTask {
    # Synopsis: time the cmdlets against pg_dump/pg_restore on a generated database; print ratios.
    Invoke-BuildTask
    & (Join-Path $Root 'tests/benchmark/Invoke-Benchmark.ps1') -SizeMB $SizeMB -ModulePath (Join-Path $ModuleDir 'PgBackup.psd1') -TestSupportPath (Join-Path $Root "tests/PgBackup.TestSupport/bin/$Configuration/net8.0/PgBackup.TestSupport.dll") -Repeat $Repeat -OutputPath (Join-Path $OutDir 'benchmark.json')
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
