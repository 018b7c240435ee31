# The recipes in examples/ (issue 14), each used as it is: the nightly job end to end against a real server, the
# metrics exporter against a real repository, and the scheduler/CI files through the tools that read them
# (systemd-analyze, a YAML parser, the PowerShell parser).
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-PgBackupModulePath) -Force
    $script:Examples = Join-Path $PSScriptRoot '../../examples' | Resolve-Path | ForEach-Object Path
    $script:RepoRoot = Split-Path $script:Examples
    $script:Pwsh = Join-Path $PSHOME ($IsWindows ? 'pwsh.exe' : 'pwsh')
    # The folder that holds the built PgBackup module folder: on PSModulePath, "Import-Module PgBackup" finds it.
    $script:ModuleRoot = Split-Path (Split-Path (Get-PgBackupModulePath))

    # Runs an example script in a fresh pwsh, as a scheduler would, with the environment given; returns exit code and output.
    function Invoke-Example([string] $Script, [string[]] $Arguments, [hashtable] $Environment = @{}) {
        $variables = @{ PSModulePath = "$script:ModuleRoot$([IO.Path]::PathSeparator)$env:PSModulePath" } + $Environment
        Invoke-WithEnvironment $variables {
            $output = & $script:Pwsh -NoProfile -NonInteractive -File (Join-Path $script:Examples $Script) @Arguments 2>&1
            [pscustomobject]@{ ExitCode = $LASTEXITCODE; Output = @($output | ForEach-Object { "$_" }) }
        }
    }

    function Read-AuditLog([string] $Path) {
        @(Get-Content -LiteralPath $Path | ForEach-Object { $_ | ConvertFrom-Json -ErrorAction Stop })
    }

    # A YAML file as objects, read by js-yaml (package.json).
    function Read-Yaml([string] $Path) {
        Push-Location $script:RepoRoot
        try {
            $json = & node -e "process.stdout.write(JSON.stringify(require('js-yaml').load(require('fs').readFileSync(process.argv[1], 'utf8'))))" $Path
            if ($LASTEXITCODE -ne 0) { throw "js-yaml could not read $Path" }
            $json | ConvertFrom-Json -AsHashtable
        }
        finally { Pop-Location }
    }

    # A five-field cron schedule (minute hour day-of-month month day-of-week), each field checked against its range.
    function Test-CronSchedule([string] $Schedule) {
        $fields = $Schedule -split '\s+'
        if ($fields.Count -ne 5) { return $false }
        $ranges = @(@(0, 59), @(0, 23), @(1, 31), @(1, 12), @(0, 7))
        for ($i = 0; $i -lt 5; $i++) {
            foreach ($part in $fields[$i] -split ',') {
                if ($part -notmatch '^(\*|(\d+)(-(\d+))?)(/(\d+))?$') { return $false }
                foreach ($number in @($Matches[2], $Matches[4]) | Where-Object { $_ }) {
                    if ([int]$number -lt $ranges[$i][0] -or [int]$number -gt $ranges[$i][1]) { return $false }
                }
                if ($Matches[6] -and [int]$Matches[6] -lt 1) { return $false }
            }
        }
        $true
    }

    # The parameters an example script declares, from its param block.
    function Get-ScriptParameter([string] $Script) {
        $ast = [System.Management.Automation.Language.Parser]::ParseFile((Join-Path $script:Examples $Script), [ref]$null, [ref]$null)
        @($ast.ParamBlock.Parameters.Name.VariablePath.UserPath)
    }

    # Checks a command line that runs an example job: pwsh, non-interactive, -File <a script of examples/>, and only
    # parameters that script declares.
    function Assert-JobCommand([string[]] $Words) {
        $Words | Should -Contain '-NonInteractive'
        $Words | Should -Contain '-NoProfile'
        $file = $Words[[array]::IndexOf($Words, '-File') + 1].Trim('"')
        $leaf = Split-Path $file -Leaf
        $example = @(Get-ChildItem $script:Examples -Recurse -Filter $leaf)
        $example.Count | Should -Be 1 -Because "$leaf is an example script"
        $declared = Get-ScriptParameter ([IO.Path]::GetRelativePath($script:Examples, $example[0].FullName))
        $after = $Words[([array]::IndexOf($Words, '-File') + 2)..($Words.Count - 1)] | Where-Object { $_ -like '-*' }
        foreach ($parameter in $after) { $declared | Should -Contain $parameter.TrimStart('-') -Because "$leaf takes $parameter" }
        $leaf
    }
}

Describe 'Invoke-PgBackupJob.ps1 (the nightly job)' {
    BeforeAll {
        $script:Cluster = Start-TestCluster
        $script:Cluster.CreateNorthwind('shop')
        $script:Cluster.CreateDatabase('billing')
        $script:Server = @{ PGHOST = $script:Cluster.Host; PGPORT = "$($script:Cluster.Port)"; PGUSER = 'postgres'; PGPASSWORD = $null; DATABASE_URL = $null; PGBACKUP_LOG = $null; PGBACKUP_REPOSITORY = $null }
        $script:Today = @('-RestoreTestDay', (Get-Date).DayOfWeek.ToString())
    }
    AfterAll { if ($script:Cluster) { $script:Cluster.Dispose() } }
    BeforeEach {
        $script:Repo = New-TestFolder
        $script:Log = Join-Path (New-TestFolder) 'audit.jsonl'
    }
    AfterEach { Remove-Item $script:Repo, (Split-Path $script:Log) -Recurse -Force -ErrorAction SilentlyContinue }

    It 'backs up every database and the globals, verifies, test-restores, applies retention, logs, and exits 0' {
        $run = Invoke-Example 'Invoke-PgBackupJob.ps1' (@('-Repository', $script:Repo, '-LogPath', $script:Log) + $script:Today) $script:Server
        $run.ExitCode | Should -Be 0 -Because ($run.Output -join "`n")
        $summary = @($run.Output | Where-Object { $_ -like 'PgBackup job *' })
        $summary.Count | Should -Be 1
        $summary[0] | Should -Be 'PgBackup job succeeded: 4 backup(s) (3 database(s) + 1 globals), 4 verified, 3 restore-tested, 0 expired removed, 0 failure(s); exit 0'

        $backups = @(Get-PgBackupInfo -Repository $script:Repo)
        @($backups | Where-Object Kind -EQ 'Database' | ForEach-Object Database | Sort-Object) | Should -Be @('billing', 'postgres', 'shop')
        @($backups | Where-Object Kind -EQ 'Globals').Count | Should -Be 1
        $backups.Status | Sort-Object -Unique | Should -Be 'Succeeded'
        ($backups | Where-Object Database -EQ 'shop').RowCounts.Count | Should -BeGreaterThan 0

        $lines = Read-AuditLog $script:Log
        @($lines | Where-Object action -EQ 'Backup').Count | Should -Be 4
        @($lines | Where-Object { $_.action -eq 'Backup' -and $_.kind -eq 'Globals' }).Count | Should -Be 1
        @($lines | Where-Object action -EQ 'Test').Count | Should -Be 7
        @($lines | Where-Object status -NE 'Succeeded').Count | Should -Be 0
    }

    It 'removes what the GFS policy no longer keeps on the next run' {
        $first = Invoke-Example 'Invoke-PgBackupJob.ps1' @('-Repository', $script:Repo, '-LogPath', $script:Log, '-RestoreTestDay', 'Monday', '-ExcludeDatabase', 'postgres,billing') $script:Server
        $first.ExitCode | Should -Be 0 -Because ($first.Output -join "`n")
        $firstIds = @(Get-PgBackupInfo -Repository $script:Repo).Id
        # One daily: the second run's backups replace the first run's (the same day), per database and for the globals.
        $second = Invoke-Example 'Invoke-PgBackupJob.ps1' @('-Repository', $script:Repo, '-LogPath', $script:Log, '-RestoreTestDay', 'Monday', '-ExcludeDatabase', 'postgres,billing', '-KeepDaily', '1', '-KeepWeekly', '0', '-KeepMonthly', '0') $script:Server
        $second.ExitCode | Should -Be 0 -Because ($second.Output -join "`n")
        ($second.Output | Where-Object { $_ -like 'PgBackup job *' }) | Should -Match ', 2 expired removed, 0 failure\(s\); exit 0$'
        $left = @(Get-PgBackupInfo -Repository $script:Repo)
        $left.Count | Should -Be 2
        $left.Id | Where-Object { $_ -in $firstIds } | Should -BeNullOrEmpty
        @((Read-AuditLog $script:Log) | Where-Object action -EQ 'Remove').backupId | Sort-Object | Should -Be @($firstIds | Sort-Object)
    }

    It 'exits 1 with a FAILED summary line and a Failed audit line when the server is unreachable' {
        $closed = $script:Server.Clone()
        $closed.PGPORT = '1'

        $run = Invoke-Example 'Invoke-PgBackupJob.ps1' @('-Repository', $script:Repo, '-LogPath', $script:Log) $closed
        $run.ExitCode | Should -Be 1
        $summary = @($run.Output | Where-Object { $_ -like 'PgBackup job *' })
        $summary.Count | Should -Be 1
        $summary[0] | Should -Match '^PgBackup job FAILED: 0 backup\(s\) .*, [1-9]\d* failure\(s\); exit 1$'
        $failed = @((Read-AuditLog $script:Log) | Where-Object status -EQ 'Failed')
        $failed.Count | Should -BeGreaterThan 0
        $failed[0].errorId | Should -Be 'ConnectionFailed'
    }
}

Describe 'Export-PgBackupMetrics.ps1 (node_exporter textfile)' {
    BeforeAll {
        $script:Cluster = Start-TestCluster
        $script:Cluster.CreateDatabase('shop')
        # A name a label must escape: double quote, backslash and line feed.
        $script:Hostile = "we`"ird\na`nme"
        $script:Cluster.CreateDatabase($script:Hostile)
        $script:Repo = New-TestFolder
        $connection = @{ Server = $script:Cluster.Host; Port = $script:Cluster.Port; Credential = (New-TestCredential) }
        $script:Backups = @(New-PgBackup -Database shop, $script:Hostile -Repository $script:Repo @connection -ErrorAction Stop)
        $script:Out = Join-Path (New-TestFolder) 'pgbackup.prom'
        $script:Run = Invoke-Example 'prometheus/Export-PgBackupMetrics.ps1' @('-Repository', $script:Repo, '-OutFile', $script:Out)
    }
    AfterAll {
        if ($script:Cluster) { $script:Cluster.Dispose() }
        Remove-Item $script:Repo, (Split-Path $script:Out) -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'writes only lines of the Prometheus text format, and leaves no temporary file' {
        $script:Run.ExitCode | Should -Be 0 -Because ($script:Run.Output -join "`n")
        $text = [IO.File]::ReadAllText($script:Out)
        $text.EndsWith("`n") | Should -BeTrue
        @(Get-ChildItem (Split-Path $script:Out)).Name | Should -Be @('pgbackup.prom')
        $name = '[a-zA-Z_:][a-zA-Z0-9_:]*'
        $labelValue = '"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
        $sample = "^$name\{$name=$labelValue(,$name=$labelValue)*\} -?\d+(\.\d+)?([eE][+-]?\d+)?$"
        $types = @{}
        foreach ($line in $text.TrimEnd("`n").Split("`n")) {
            if ($line -match "^# HELP ($name) (?:[^\\\n]|\\\\|\\n)+$") { continue }
            if ($line -match "^# TYPE ($name) (counter|gauge|histogram|summary|untyped)$") { $types[$Matches[1]] = $Matches[2]; continue }
            $line | Should -Match $sample
            ($line -split '\{')[0] | Should -BeIn @($types.Keys) -Because 'every metric has its # TYPE line first'
        }
        $types.Keys | Should -Contain 'pgbackup_last_success_timestamp_seconds'
    }

    It 'gives each database its last success time, with the label escaped' {
        $text = [IO.File]::ReadAllText($script:Out)
        foreach ($backup in $script:Backups) {
            $label = $backup.Database.Replace('\', '\\').Replace('"', '\"').Replace("`n", '\n')
            $seconds = ([DateTimeOffset]$backup.StartedAt.ToUniversalTime()).ToUnixTimeSeconds()
            $text | Should -Match ([regex]::Escape("pgbackup_last_success_timestamp_seconds{database=`"$label`"} $seconds") + '\n')
            $text | Should -Match ([regex]::Escape("pgbackup_backups{database=`"$label`"} 1") + '\n')
        }
        $text | Should -Match ([regex]::Escape('{database="we\"ird\\na\nme"}'))
    }
}

Describe 'Scheduler recipes' {
    It 'cron: every schedule is valid and runs an example job non-interactively, with no password in the file' {
        $lines = @(Get-Content (Join-Path $script:Examples 'cron/pgbackup') | Where-Object { $_ -and $_ -notmatch '^\s*#' })
        $jobs = @($lines | Where-Object { $_ -notmatch '^[A-Z_][A-Z0-9_]*=' })
        $jobs.Count | Should -Be 2
        $ran = foreach ($job in $jobs) {
            $words = $job -split '\s+'
            Test-CronSchedule ($words[0..4] -join ' ') | Should -BeTrue -Because $job
            $words[5] | Should -Be 'pgbackup' -Because 'an /etc/cron.d line names its user'
            $words[6] | Should -Be 'pwsh'
            Assert-JobCommand $words[6..($words.Count - 1)]
        }
        $ran | Should -Be @('Invoke-PgBackupJob.ps1', 'Export-PgBackupMetrics.ps1')
        $lines | Where-Object { $_ -match 'PASSWORD|SECRET|PASSPHRASE' } | Should -BeNullOrEmpty
    }

    It 'systemd: the service and timer pass systemd-analyze verify, and the service runs the job' {
        $units = 'pgbackup.service', 'pgbackup.timer' | ForEach-Object { Join-Path $script:Examples "systemd/$_" }
        # Needs no running systemd (.ci/run installs it where missing).
        $verify = & systemd-analyze verify @units 2>&1
        $LASTEXITCODE | Should -Be 0 -Because ($verify -join "`n")
        $verify | Should -BeNullOrEmpty
        $calendar = (Get-Content $units[1] | Where-Object { $_ -like 'OnCalendar=*' }) -replace '^OnCalendar=', ''
        $null = & systemd-analyze calendar $calendar
        $LASTEXITCODE | Should -Be 0
        $exec = (Get-Content $units[0] | Where-Object { $_ -like 'ExecStart=*' }) -replace '^ExecStart=', ''
        $words = $exec -split '\s+'
        $words[0..1] | Should -Be @('/usr/bin/env', 'pwsh')
        Assert-JobCommand $words[1..($words.Count - 1)] | Should -Be 'Invoke-PgBackupJob.ps1'
        Get-Content $units[0] | Should -Contain 'Type=oneshot'
    }

    It 'systemd-analyze verify would catch a broken unit (the check can fail)' {
        $folder = New-TestFolder
        try {
            $broken = Join-Path $folder 'pgbackup.timer'
            (Get-Content (Join-Path $script:Examples 'systemd/pgbackup.timer')) -replace '^OnCalendar=.*', 'OnCalendar=nightly at half past two' | Set-Content $broken
            $null = & systemd-analyze verify $broken 2>&1
            $LASTEXITCODE | Should -Not -Be 0
        }
        finally { Remove-Item $folder -Recurse -Force }
    }

    It 'Task Scheduler: registers pwsh.exe -File Invoke-PgBackupJob.ps1 daily, as a service account (checked in the AST)' {
        $path = Join-Path $script:Examples 'windows/Register-PgBackupTask.ps1'
        $errors = $null
        $ast = [System.Management.Automation.Language.Parser]::ParseFile($path, [ref]$null, [ref]$errors)
        $errors | Should -BeNullOrEmpty
        $commands = @($ast.FindAll({ $args[0] -is [System.Management.Automation.Language.CommandAst] }, $true))
        function Get-Arguments([string] $Name) {
            $command = @($commands | Where-Object { $_.GetCommandName() -eq $Name })
            $command.Count | Should -Be 1 -Because "the script calls $Name once"
            $bound = @{}
            $elements = $command[0].CommandElements
            for ($i = 1; $i -lt $elements.Count; $i++) {
                if ($elements[$i] -is [System.Management.Automation.Language.CommandParameterAst]) {
                    $next = $i + 1 -lt $elements.Count -and $elements[$i + 1] -isnot [System.Management.Automation.Language.CommandParameterAst] ? $elements[$i + 1] : $null
                    $bound[$elements[$i].ParameterName] = $next ? $next.Extent.Text : $true
                    if ($next) { $i++ }
                }
            }
            $bound
        }
        $register = Get-Arguments 'Register-ScheduledTask'
        foreach ($name in 'TaskName', 'Action', 'Trigger', 'Settings', 'Principal') { $register.Keys | Should -Contain $name }
        $action = Get-Arguments 'New-ScheduledTaskAction'
        $action.Execute | Should -Be "'pwsh.exe'"
        $action.Argument | Should -Be '$arguments'
        $trigger = Get-Arguments 'New-ScheduledTaskTrigger'
        $trigger.Daily | Should -BeTrue
        $trigger.At | Should -Be '$At'
        (Get-Arguments 'New-ScheduledTaskPrincipal').LogonType | Should -Be 'ServiceAccount'

        # The command line the task runs: the $arguments string, with the script's own defaults put in.
        $assignment = @($ast.FindAll({ $args[0] -is [System.Management.Automation.Language.AssignmentStatementAst] -and $args[0].Left.Extent.Text -eq '$arguments' }, $true))
        $assignment.Count | Should -Be 1
        $defaults = @{}
        foreach ($parameter in $ast.ParamBlock.Parameters) { if ($parameter.DefaultValue) { $defaults[$parameter.Name.VariablePath.UserPath] = $parameter.DefaultValue.SafeGetValue() } }
        $template = $assignment[0].Right.Expression
        $template | Should -BeOfType ([System.Management.Automation.Language.ExpandableStringExpressionAst])
        $commandLine = $template.Value
        foreach ($variable in $template.NestedExpressions) { $commandLine = $commandLine.Replace($variable.Extent.Text, $defaults[$variable.VariablePath.UserPath]) }
        $words = @([regex]::Matches($commandLine, '"[^"]*"|\S+').Value)
        $defaults.JobScript | Should -BeLike '*\Invoke-PgBackupJob.ps1'
        # Assert-JobCommand finds the example by the file's leaf name: a Windows path, split here on '\'.
        $words = $words | ForEach-Object { $_ -eq "`"$($defaults.JobScript)`"" ? 'Invoke-PgBackupJob.ps1' : $_ }
        Assert-JobCommand (@('pwsh.exe') + $words) | Should -Be 'Invoke-PgBackupJob.ps1'
    }
}

Describe 'CI recipes' {
    BeforeAll {
        # Where a pipeline says a secret: the platform's secret store, never a value in the file.
        function Assert-SecretsReferenced([hashtable] $Environment, [string] $Reference) {
            foreach ($entry in $Environment.GetEnumerator()) {
                if ($entry.Key -match 'PASSWORD|SECRET|PASSPHRASE|TOKEN|KEY') { $entry.Value | Should -Match $Reference -Because "$($entry.Key) must come from the secret store" }
            }
        }
    }

    It 'GitHub Actions: a scheduled job with OIDC credentials and secrets, running the example job, keeping the audit log' {
        $workflow = Read-Yaml 'examples/github-actions/pgbackup.yml'
        Test-CronSchedule $workflow.on.schedule[0].cron | Should -BeTrue
        $workflow.permissions['id-token'] | Should -Be 'write'
        $steps = $workflow.jobs.backup.steps
        $uses = @($steps | Where-Object { $_.uses } | ForEach-Object uses)
        $uses | Should -Contain 'actions/checkout@v4'
        $uses | Should -Contain 'aws-actions/configure-aws-credentials@v4'
        $uses | Should -Contain 'actions/upload-artifact@v4'
        ($steps | Where-Object uses -Like 'aws-actions/*').with['role-to-assume'] | Should -Match '^\$\{\{ secrets\.[A-Z_]+ \}\}$'
        $job = @($steps | Where-Object { $_.run -and $_.run -like '*Invoke-PgBackupJob.ps1*' })
        $job.Count | Should -Be 1
        $job[0].shell | Should -Be 'pwsh'
        Test-Path (Join-Path $script:RepoRoot ($job[0].run.Trim() -replace '^\./', '')) | Should -BeTrue
        $job[0].env.PGPASSWORD | Should -Be '${{ secrets.PGBACKUP_PASSWORD }}'
        $job[0].env.PGBACKUP_LOG | Should -Not -BeNullOrEmpty
        $upload = $steps | Where-Object uses -Like 'actions/upload-artifact@*'
        $upload.if | Should -Be 'always()'
        $upload.with.path | Should -Be $job[0].env.PGBACKUP_LOG
        foreach ($environment in @($workflow.jobs.backup.env) + @($steps | Where-Object { $_.env } | ForEach-Object env)) {
            Assert-SecretsReferenced $environment '^\$\{\{ secrets\.[A-Z_]+ \}\}$'
        }
    }

    It 'Azure Pipelines: a scheduled run with a service connection and secret variables, running the example job, keeping the audit log' {
        $pipeline = Read-Yaml 'examples/azure-pipelines/pgbackup.yml'
        Test-CronSchedule $pipeline.schedules[0].cron | Should -BeTrue
        $pipeline.trigger | Should -Be 'none'
        $group = @($pipeline.variables | Where-Object { $_.group })
        $group.Count | Should -Be 1
        # A secret is never defined in the file itself, only in the variable group.
        @($pipeline.variables | Where-Object { $_.name -match 'PASSWORD|SECRET' }) | Should -BeNullOrEmpty
        $job = @($pipeline.steps | Where-Object { $_.task -eq 'AzureCLI@2' -and $_.inputs.scriptPath })
        $job.Count | Should -Be 1
        $job[0].inputs.scriptType | Should -Be 'pscore'
        $job[0].inputs.azureSubscription | Should -Not -BeNullOrEmpty
        Test-Path (Join-Path $script:RepoRoot $job[0].inputs.scriptPath) | Should -BeTrue
        $job[0].inputs.scriptPath | Should -BeLike '*Invoke-PgBackupJob.ps1'
        $job[0].env.PGPASSWORD | Should -Be '$(PGBACKUP_PASSWORD)'
        $job[0].env.PGBACKUP_REPOSITORY | Should -BeLike 'az://*'
        $publish = @($pipeline.steps | Where-Object task -EQ 'PublishPipelineArtifact@1')
        $publish.Count | Should -Be 1
        $publish[0].condition | Should -Be 'always()'
        $publish[0].inputs.targetPath | Should -Be $job[0].env.PGBACKUP_LOG
        foreach ($step in $pipeline.steps | Where-Object { $_.env }) { Assert-SecretsReferenced $step.env '^\$\([A-Za-z_.]+\)$' }
    }
}
