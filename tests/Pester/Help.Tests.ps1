# The module's help (Get-Help for every cmdlet and parameter, about_PgBackup), built by build.ps1 from
# src/PgBackup/help: checked against the real cmdlets, and every example run against throwaway servers.
BeforeDiscovery {
    $helpSource = Join-Path $PSScriptRoot '../../src/PgBackup/help'
    Import-Module (Join-Path $helpSource 'HelpMarkdown.psm1') -Force
    # The order a reader (and the examples) follows: backups first, expiry last.
    $cmdletOrder = 'New-PgBackup', 'Get-PgBackupInfo', 'Test-PgBackup', 'Restore-PgBackup', 'Remove-PgBackupExpired'
    $script:CmdletNames = $cmdletOrder | ForEach-Object { @{ Name = $_ } }
    $script:Examples = foreach ($name in $cmdletOrder) {
        $source = ConvertFrom-HelpMarkdown (Join-Path $helpSource "en-US/$name.md")
        foreach ($example in $source.Examples) {
            @{ Cmdlet = $name; Title = $example.Title; Code = $example.Code; NoRunReason = $example.NoRunReason }
        }
    }
    $script:RunnableExamples = @($script:Examples | Where-Object { -not $_.NoRunReason })
    $script:NotRunExamples = @($script:Examples | Where-Object { $_.NoRunReason })
}

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-PgBackupModulePath) -Force
    $script:HelpSource = Join-Path $PSScriptRoot '../../src/PgBackup/help'
    Import-Module (Join-Path $script:HelpSource 'HelpMarkdown.psm1') -Force

    function Get-HelpText($value) { (@($value | ForEach-Object { $_.Text }) -join "`n").Trim() }
    function Get-Source([string] $Name) { ConvertFrom-HelpMarkdown (Join-Path $script:HelpSource "en-US/$Name.md") }
    # What a parameter needs help for: everything but the common parameters (WhatIf and Confirm included).
    function Get-DocumentedParameterNames([string] $Name) {
        @((Get-Command $Name).Parameters.Keys | Where-Object { $_ -notin [System.Management.Automation.Cmdlet]::CommonParameters })
    }
}

Describe 'Help for the cmdlets' {
    It 'every exported cmdlet has a help source, and every help source is an exported cmdlet' {
        $exported = @(Get-Command -Module PgBackup -CommandType Cmdlet | ForEach-Object Name | Sort-Object)
        $sources = @(Get-ChildItem (Join-Path $script:HelpSource 'en-US') -Filter '*-*.md' | ForEach-Object BaseName | Sort-Object)
        $sources | Should -Be $exported
    }

    It '<Name> has its synopsis, a description and at least three examples in Get-Help' -ForEach $script:CmdletNames {
        $help = Get-Help $Name -Full
        $source = Get-Source $Name
        $help.Synopsis | Should -Be ($source.Synopsis -join ' ')
        Get-HelpText $help.description | Should -Not -BeNullOrEmpty
        @($help.examples.example).Count | Should -BeGreaterOrEqual 3
        @($help.examples.example).Count | Should -Be $source.Examples.Count
    }

    It '<Name> shows exactly the example code of its source (so the examples the tests run are the ones users read)' -ForEach $script:CmdletNames {
        $help = Get-Help $Name -Examples
        $shown = @($help.examples.example | ForEach-Object { $_.code -replace "`r`n", "`n" })
        $shown | Should -Be @((Get-Source $Name).Examples | ForEach-Object Code)
    }

    It '<Name> has examples of interactive, scheduled and CI use' -ForEach $script:CmdletNames {
        $titles = @((Get-Help $Name -Examples).examples.example | ForEach-Object { $_.title -replace '^-+\s*|\s*-+$' })
        $scheduled = 'schedul|nightly|every night|weekly|cron'
        @($titles | Where-Object { $_ -match $scheduled }).Count | Should -BeGreaterOrEqual 1 -Because "a scheduled example is missing in: $($titles -join ' | ')"
        @($titles | Where-Object { $_ -cmatch '\bCI\b' }).Count | Should -BeGreaterOrEqual 1 -Because "a CI example is missing in: $($titles -join ' | ')"
        @($titles | Where-Object { $_ -notmatch $scheduled -and $_ -cnotmatch '\bCI\b' }).Count | Should -BeGreaterOrEqual 1 -Because "an interactive example is missing in: $($titles -join ' | ')"
    }

    It 'every parameter of <Name> has a description in Get-Help' -ForEach $script:CmdletNames {
        # From the real cmdlet, not from the help: a parameter added without help text fails here.
        $names = Get-DocumentedParameterNames $Name
        $names.Count | Should -BeGreaterThan 0
        $missing = foreach ($parameter in $names) {
            $help = Get-Help $Name -Parameter $parameter -ErrorAction SilentlyContinue
            if (-not $help -or -not (Get-HelpText $help.description)) { $parameter }
        }
        $missing | Should -BeNullOrEmpty -Because "these parameters of $Name have no help text"
    }

    It 'the help of <Name> shows the real parameter sets, types and defaults' -ForEach $script:CmdletNames {
        $help = Get-Help $Name -Full
        $command = Get-Command $Name
        @($help.syntax.syntaxItem).Count | Should -Be $command.ParameterSets.Count
        $fresh = [Activator]::CreateInstance($command.ImplementingType)
        foreach ($parameter in Get-DocumentedParameterNames $Name) {
            $type = $command.Parameters[$parameter].ParameterType
            $type = [Nullable]::GetUnderlyingType($type) ?? $type
            $parameterHelp = Get-Help $Name -Parameter $parameter
            $parameterHelp.type.name | Should -Be $type.Name -Because "-$parameter"
            $property = $command.ImplementingType.GetProperty($parameter)
            if ($property -and $type -ne [switch]) {
                $default = $property.GetValue($fresh)
                $parameterHelp.defaultValue | Should -Be ($null -eq $default ? 'None' : "$default") -Because "-$parameter"
            }
        }
        $help.parameters.parameter.Where({ $_.name -eq 'Jobs' -or $_.name -eq 'Format' -or $_.name -eq 'Level' }).ForEach({ $_.defaultValue }) |
            Should -Not -Contain 'None'
    }

    It 'the help sources name no parameter the cmdlets do not have' {
        $unknown = foreach ($file in Get-ChildItem (Join-Path $script:HelpSource 'en-US') -Filter '*-*.md') {
            $parameters = Get-DocumentedParameterNames $file.BaseName
            (Get-Source $file.BaseName).Parameters.Keys | Where-Object { $_ -notin $parameters } | ForEach-Object { "$($file.BaseName) -$_" }
        }
        $everyParameter = @(Get-Command -Module PgBackup -CommandType Cmdlet | ForEach-Object { Get-DocumentedParameterNames $_.Name })
        $shared = ConvertFrom-HelpMarkdown (Join-Path $script:HelpSource 'en-US/SharedParameters.md')
        $unknown += @($shared.Parameters.Keys | Where-Object { $_ -notin $everyParameter } | ForEach-Object { "SharedParameters.md -$_" })
        $unknown | Should -BeNullOrEmpty
    }

    It 'Get-Help about_PgBackup shows the concepts topic' {
        # In a fresh pwsh with only the staged module loaded: this session also loaded the help sources' folder
        # (HelpMarkdown.psm1), where Get-Help would find the source topic instead of the built one.
        $result = Invoke-FreshPwsh -Script "`$ErrorActionPreference = 'Stop'; Import-Module '$(Get-PgBackupModulePath)'; Get-Help about_PgBackup | Out-String -Width 200"
        $result.ExitCode | Should -Be 0 -Because ($result.Output -join "`n")
        $text = $result.Output -join "`n"
        $text | Should -Match 'about_PgBackup'
        foreach ($section in 'REPOSITORY LAYOUT', 'MANIFESTS', 'CONNECTION PRECEDENCE', 'SAFETY GUARANTEES', 'SCHEDULING') {
            $text | Should -Match $section
        }
    }

    It 'the package carries the same help files as the staged module' {
        $moduleFolder = Split-Path (Get-PgBackupModulePath)
        $version = (Import-PowerShellDataFile (Get-PgBackupModulePath)).ModuleVersion
        $packageDir = $env:PGBACKUP_PACKAGE_DIR ? $env:PGBACKUP_PACKAGE_DIR : (Join-Path $moduleFolder '../package')
        foreach ($file in 'en-US/PgBackup.dll-Help.xml', 'en-US/about_PgBackup.help.txt') {
            $packaged = Join-Path $packageDir "PgBackup/$version/$file"
            Test-Path $packaged | Should -BeTrue -Because $packaged
            (Get-FileHash $packaged).Hash | Should -Be (Get-FileHash (Join-Path $moduleFolder $file)).Hash
        }
    }
}

Describe 'Help examples' {
    BeforeAll {
        # The documented substitutions (src/PgBackup/help/README.md): a throwaway PostgreSQL with shop and billing,
        # a throwaway s3rver, a temporary folder for /var/backups/pg, and the PG* variables an admin would have set.
        $script:Cluster = Start-TestCluster
        $script:S3 = Start-TestS3rver
        $script:Cluster.CreateNorthwind('shop')
        $script:Cluster.CreateNorthwind('billing')
        $script:Folder = New-TestFolder -Prefix 'pgbackup-help'
        $script:GpgHome = New-TestGpgHome
        $script:SigningKey = New-TestSigningKey $script:GpgHome 'backup-signing'
        $script:SavedVariables = Set-ProcessVariables @{
            PGHOST = '127.0.0.1'; PGPORT = "$($script:Cluster.Port)"; PGUSER = 'postgres'; PGDATABASE = 'shop'
            PGPASSWORD = $null; DATABASE_URL = $null; PGBACKUP_REPOSITORY = $script:Folder
            AWS_ENDPOINT_URL_S3 = $script:S3.Endpoint; AWS_ENDPOINT_URL = $null
        }
        function ConvertTo-TestCode([string] $Code) {
            $Code.Replace('/var/backups/pg', $script:Folder).Replace('s3://acme-backups/pg', "s3://$($script:S3.Bucket)/pg").Replace('db1.example.com', "127.0.0.1:$($script:Cluster.Port)").Replace('/etc/pgbackup/backup-signing.sec.asc', $script:SigningKey.SecretKeyFile).Replace('/etc/pgbackup/backup-signing.pub.asc', $script:SigningKey.PublicKeyFile)
        }
    }

    AfterAll {
        Restore-ProcessVariables $script:SavedVariables
        Stop-TestS3rver $script:S3
        if ($script:Cluster) { $script:Cluster.Dispose() }
        if ($script:Folder) { Remove-Item $script:Folder -Recurse -Force -ErrorAction SilentlyContinue }
        Remove-TestGpgHome $script:GpgHome
    }

    It '<Cmdlet> "<Title>" runs without error' -ForEach $script:RunnableExamples {
        $code = ConvertTo-TestCode $Code
        # An example may set variables of its own (PGBACKUP_REPOSITORY in a scheduled script): put the environment back.
        $environment = @{}
        Get-ChildItem Env: | ForEach-Object { $environment[$_.Name] = $_.Value }
        try {
            # Stop turns every error, also the non-terminating ones the cmdlets write per item, into a failure here.
            $null = & {
                $ErrorActionPreference = 'Stop'
                . ([scriptblock]::Create($code))
            } 6>&1
        }
        finally {
            Get-ChildItem Env: | Where-Object { -not $environment.ContainsKey($_.Name) } | ForEach-Object { Remove-Item "Env:$($_.Name)" }
            foreach ($entry in $environment.GetEnumerator()) { Set-Item "Env:$($entry.Key)" -Value $entry.Value }
        }
    }

    It '<Cmdlet> "<Title>" is not run (<NoRunReason>) but parses' -ForEach $script:NotRunExamples {
        $errors = $null
        $null = [System.Management.Automation.Language.Parser]::ParseInput($Code, [ref] $null, [ref] $errors)
        $errors | Should -BeNullOrEmpty
        $NoRunReason | Should -Not -BeNullOrEmpty
    }

    It 'the examples wrote to the test repositories and restored on the test server' {
        # Guards the substitutions themselves: examples that silently worked elsewhere would prove nothing.
        @(Get-PgBackupInfo -Repository $script:Folder -Database shop).Count | Should -BeGreaterThan 0
        @(Get-PgBackupInfo -Repository $script:Folder -Database billing).Count | Should -BeGreaterThan 0
        @(Get-PgBackupInfo -Repository "s3://$($script:S3.Bucket)/pg").Count | Should -BeGreaterThan 0
        $databases = $script:Cluster.ListDatabasesAsync().GetAwaiter().GetResult()
        foreach ($restored in 'shop_copy', 'shop_staging', 'shop_ci', 'shop_from_file', 'shop_signed') { $databases | Should -Contain $restored }
        @(Get-PgBackupInfo -Repository $script:Folder -Database shop | Where-Object Signed).Count | Should -BeGreaterThan 0
    }
}
