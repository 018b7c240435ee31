# The help sources (en-US/*.md, see README.md here) read into objects, and those objects plus the cmdlets' real
# metadata written as MAML. Plain PowerShell: platyPS is not available where the module is built. build.ps1 uses it
# to write the module's help; tests/Pester/Help.Tests.ps1 uses the same reader to check the sources and run examples.

Set-StrictMode -Version Latest

function ConvertTo-HelpParagraph {
    # Blank lines separate paragraphs; a line starting with "- " starts a new one; other lines join with a space.
    param([string[]] $Lines)
    $paragraphs = [Collections.Generic.List[string]]::new()
    $current = [Collections.Generic.List[string]]::new()
    foreach ($line in $Lines) {
        $text = $line.Trim()
        if (-not $text -or $text.StartsWith('- ')) {
            if ($current.Count) { $paragraphs.Add($current -join ' '); $current.Clear() }
        }
        if ($text) { $current.Add($text) }
    }
    if ($current.Count) { $paragraphs.Add($current -join ' ') }
    , [string[]] $paragraphs
}

function ConvertFrom-HelpMarkdown {
    # One help source file -> Name, Synopsis, Description, Parameters (name -> paragraphs, in file order), Inputs,
    # Outputs (Type, Paragraphs), Notes, Examples (Title, Code, Remarks, NoRunReason), Links.
    param([Parameter(Mandatory)] [string] $Path)
    $lines = Get-Content -LiteralPath $Path
    $help = [ordered]@{
        Name = $null; Synopsis = @(); Description = @(); Parameters = [ordered]@{}; Inputs = @(); Outputs = @()
        Notes = @(); Examples = @(); Links = @()
    }
    # Split into "## Section" blocks, each into "### Item" blocks.
    $sections = [ordered]@{}
    $section = $null; $item = $null
    $inCode = $false
    foreach ($line in $lines) {
        if ($line.StartsWith('```')) { $inCode = -not $inCode }
        if (-not $inCode -and $line -match '^# (?<name>\S.*)$') { $help.Name = $Matches.name.Trim(); continue }
        if (-not $inCode -and $line -match '^## (?<name>\S.*)$') {
            $section = [ordered]@{ Lines = [Collections.Generic.List[string]]::new(); Items = [Collections.Generic.List[object]]::new() }
            $sections[$Matches.name.Trim()] = $section
            $item = $null
            continue
        }
        if (-not $inCode -and $line -match '^### (?<name>\S.*)$') {
            if (-not $section) { throw "${Path}: '### $($Matches.name)' outside a '## ' section." }
            $item = [pscustomobject]@{ Name = $Matches.name.Trim(); Lines = [Collections.Generic.List[string]]::new() }
            $section.Items.Add($item)
            continue
        }
        if ($item) { $item.Lines.Add($line) } elseif ($section) { $section.Lines.Add($line) }
    }
    $known = 'SYNOPSIS', 'DESCRIPTION', 'PARAMETERS', 'INPUTS', 'OUTPUTS', 'NOTES', 'EXAMPLES', 'RELATED LINKS'
    foreach ($name in $sections.Keys) { if ($name -notin $known) { throw "${Path}: unknown section '## $name' (known: $($known -join ', '))." } }

    if ($sections.Contains('SYNOPSIS')) { $help.Synopsis = ConvertTo-HelpParagraph $sections.SYNOPSIS.Lines }
    if ($sections.Contains('DESCRIPTION')) { $help.Description = ConvertTo-HelpParagraph $sections.DESCRIPTION.Lines }
    if ($sections.Contains('NOTES')) { $help.Notes = ConvertTo-HelpParagraph $sections.NOTES.Lines }
    if ($sections.Contains('PARAMETERS')) {
        foreach ($parameter in $sections.PARAMETERS.Items) {
            if ($parameter.Name -notmatch '^-(?<name>\w+)$') { throw "${Path}: parameter heading '### $($parameter.Name)' must be '### -Name'." }
            if ($help.Parameters.Contains($Matches.name)) { throw "${Path}: -$($Matches.name) is described twice." }
            $help.Parameters[$Matches.name] = ConvertTo-HelpParagraph $parameter.Lines
        }
    }
    foreach ($kind in 'INPUTS', 'OUTPUTS') {
        if (-not $sections.Contains($kind)) { continue }
        $types = foreach ($type in $sections[$kind].Items) { [pscustomobject]@{ Type = $type.Name; Paragraphs = ConvertTo-HelpParagraph $type.Lines } }
        $help[($kind.Substring(0, 1) + $kind.Substring(1).ToLowerInvariant())] = @($types)
    }
    if ($sections.Contains('EXAMPLES')) {
        $help.Examples = @(foreach ($example in $sections.EXAMPLES.Items) {
                $code = [Collections.Generic.List[string]]::new()
                $rest = [Collections.Generic.List[string]]::new()
                $state = 'before'
                foreach ($line in $example.Lines) {
                    switch ($state) {
                        'before' { if ($line -match '^```powershell\s*$') { $state = 'code' } elseif ($line.Trim()) { throw "${Path}: '$($example.Name)' must start with a powershell code block." } }
                        'code' { if ($line -match '^```\s*$') { $state = 'after' } else { $code.Add($line) } }
                        'after' { $rest.Add($line) }
                    }
                }
                if ($state -ne 'after' -or -not $code.Count) { throw "${Path}: '$($example.Name)' has no complete powershell code block." }
                $noRun = $null
                $remarks = [Collections.Generic.List[string]]::new()
                foreach ($line in $rest) {
                    if ($line -match '^> Not run by the tests:\s*(?<reason>.*)$') { $noRun = $Matches.reason.Trim(); continue }
                    $remarks.Add($line)
                }
                if ($null -ne $noRun -and -not $noRun) { throw "${Path}: '$($example.Name)' is not run by the tests but gives no reason." }
                [pscustomobject]@{ Title = $example.Name; Code = ($code -join "`n"); Remarks = (ConvertTo-HelpParagraph $remarks); NoRunReason = $noRun }
            })
    }
    if ($sections.Contains('RELATED LINKS')) {
        $help.Links = @($sections['RELATED LINKS'].Lines | Where-Object { $_ -match '^- ' } | ForEach-Object { $_.Substring(2).Trim() })
    }
    [pscustomobject]$help
}

function Get-CmdletHelpMetadata {
    # What MAML needs from a loaded cmdlet (types, sets, positions, pipeline input, aliases), as plain data. The
    # common parameters are left out; WhatIf and Confirm (the optional common ones) stay, as Get-Help lists them.
    param([Parameter(Mandatory)] [System.Management.Automation.CommandInfo] $Command)
    $common = [System.Management.Automation.Cmdlet]::CommonParameters
    function TypeName([type] $type) {
        $underlying = [Nullable]::GetUnderlyingType($type)
        if ($underlying) { $type = $underlying }
        $type.Name
    }
    $sets = @($Command.ParameterSets | Sort-Object { -not $_.IsDefault } | ForEach-Object {
            [pscustomobject]@{
                Name       = $_.Name
                Parameters = @($_.Parameters | Where-Object Name -notin $common | ForEach-Object {
                        [pscustomobject]@{ Name = $_.Name; Mandatory = $_.IsMandatory; Position = $_.Position; ByValue = $_.ValueFromPipeline; ByPropertyName = $_.ValueFromPipelineByPropertyName }
                    })
            }
        })
    # Defaults as the cmdlet really has them: the parameter properties of a fresh instance (null: no default).
    $instance = [Activator]::CreateInstance($Command.ImplementingType)
    $parameters = @($Command.Parameters.Values | Where-Object Name -notin $common | ForEach-Object {
            $name = $_.Name
            $property = $Command.ImplementingType.GetProperty($name)
            $default = if ($property) { $property.GetValue($instance) }
            $defaultText = if ($_.SwitchParameter) { 'False' } elseif ($null -eq $default) { 'None' } else { "$default" }
            $inSets = @($sets.Parameters | Where-Object Name -eq $name)
            $validateSet = @($_.Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] } | ForEach-Object ValidValues)
            if (-not $validateSet.Count -and ([Nullable]::GetUnderlyingType($_.ParameterType) ?? $_.ParameterType).IsEnum) {
                $validateSet = [Enum]::GetNames(([Nullable]::GetUnderlyingType($_.ParameterType) ?? $_.ParameterType))
            }
            [pscustomobject]@{
                Name           = $name
                Type           = TypeName $_.ParameterType
                IsSwitch       = $_.SwitchParameter
                Aliases        = @($_.Aliases)
                Wildcards      = [bool]@($_.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] }).Count
                ValidValues    = $validateSet
                Mandatory      = [bool]($inSets.Count -and -not @($inSets | Where-Object { -not $_.Mandatory }).Count)
                Position       = @($inSets | Where-Object { $_.Position -ge 0 } | ForEach-Object Position | Select-Object -First 1)
                ByValue        = [bool]@($inSets | Where-Object ByValue).Count
                ByPropertyName = [bool]@($inSets | Where-Object ByPropertyName).Count
                Default        = $defaultText
            }
        })
    if ($instance -is [IDisposable]) { $instance.Dispose() }
    [pscustomobject]@{ Name = $Command.Name; Verb = $Command.Verb; Noun = $Command.Noun; Sets = $sets; Parameters = $parameters }
}

function ConvertTo-MamlHelp {
    # MAML (the schema Get-Help reads for compiled cmdlets) for the given cmdlets. $Help: cmdlet name -> the
    # ConvertFrom-HelpMarkdown object; $SharedParameters: name -> paragraphs for parameters a cmdlet's own source
    # leaves out. A parameter with no text anywhere, or a cmdlet with no source, stops the build.
    param(
        [Parameter(Mandatory)] [object[]] $Metadata,
        [Parameter(Mandatory)] [hashtable] $Help,
        [hashtable] $SharedParameters = @{}
    )
    function X([string] $text) { [System.Security.SecurityElement]::Escape($text) }
    function Paras([string[]] $paragraphs, [string] $indent) {
        (@($paragraphs) | ForEach-Object { "$indent<maml:para>$(X $_)</maml:para>" }) -join "`n"
    }
    function PipelineInput($p) {
        $kinds = @(if ($p.ByValue) { 'ByValue' }; if ($p.ByPropertyName) { 'ByPropertyName' })
        if ($kinds.Count) { "True ($($kinds -join ', '))" } else { 'False' }
    }
    function ParameterXml($meta, $text, [bool] $required, $position, [string] $pipeline, [bool] $inSyntax, [string] $indent) {
        $aliases = if ($meta.Aliases.Count) { $meta.Aliases -join ', ' } else { 'none' }
        $positionText = if ($null -ne $position -and "$position" -ne '' -and $position -ge 0) { "$position" } else { 'named' }
        $lines = @("$indent<command:parameter required=`"$("$required".ToLowerInvariant())`" variableLength=`"true`" globbing=`"$("$($meta.Wildcards)".ToLowerInvariant())`" pipelineInput=`"$pipeline`" position=`"$positionText`" aliases=`"$(X $aliases)`">"
            "$indent  <maml:name>$(X $meta.Name)</maml:name>"
            "$indent  <maml:description>"
            (Paras $text "$indent    ")
            "$indent  </maml:description>")
        if ($meta.ValidValues.Count -and $inSyntax) {
            $lines += "$indent  <command:parameterValueGroup>"
            $lines += @($meta.ValidValues | ForEach-Object { "$indent    <command:parameterValue required=`"false`" command:variableLength=`"false`">$(X $_)</command:parameterValue>" })
            $lines += "$indent  </command:parameterValueGroup>"
        }
        if (-not $meta.IsSwitch -or -not $inSyntax) {
            $lines += "$indent  <command:parameterValue required=`"$("$(-not $meta.IsSwitch)".ToLowerInvariant())`" variableLength=`"false`">$(X $meta.Type)</command:parameterValue>"
        }
        $lines += @("$indent  <dev:type>", "$indent    <maml:name>$(X $meta.Type)</maml:name>", "$indent    <maml:uri />", "$indent  </dev:type>",
            "$indent  <dev:defaultValue>$(X $meta.Default)</dev:defaultValue>", "$indent</command:parameter>")
        $lines -join "`n"
    }
    function TypeList([string] $outer, [string] $inner, $types) {
        $out = @("    <command:$outer>")
        foreach ($type in @($types)) {
            $out += @("      <command:$inner>", '        <dev:type>', "          <maml:name>$(X $type.Type)</maml:name>", '        </dev:type>',
                '        <maml:description>', (Paras $type.Paragraphs '          '), '        </maml:description>', "      </command:$inner>")
        }
        $out += "    </command:$outer>"
        $out -join "`n"
    }

    $out = [Text.StringBuilder]::new()
    $null = $out.AppendLine('<?xml version="1.0" encoding="utf-8"?>')
    $null = $out.AppendLine('<helpItems schema="maml" xmlns="http://msh">')
    foreach ($command in $Metadata) {
        $source = $Help[$command.Name]
        if (-not $source) { throw "No help source for $($command.Name): add src/PgBackup/help/en-US/$($command.Name).md." }
        $texts = @{}
        foreach ($parameter in $command.Parameters) {
            $text = if ($source.Parameters.Contains($parameter.Name)) { $source.Parameters[$parameter.Name] } else { $SharedParameters[$parameter.Name] }
            if (-not @($text | Where-Object { $_ }).Count) { throw "$($command.Name) -$($parameter.Name) has no help text: describe it in $($command.Name).md or SharedParameters.md." }
            $texts[$parameter.Name] = $text
        }
        $byName = @{}; foreach ($parameter in $command.Parameters) { $byName[$parameter.Name] = $parameter }
        $unknown = @($source.Parameters.Keys | Where-Object { -not $byName.ContainsKey($_) })
        if ($unknown.Count) { throw "$($command.Name).md describes parameters $($command.Name) does not have: -$($unknown -join ', -')." }

        $null = $out.AppendLine('  <command:command xmlns:maml="http://schemas.microsoft.com/maml/2004/10" xmlns:command="http://schemas.microsoft.com/maml/dev/command/2004/10" xmlns:dev="http://schemas.microsoft.com/maml/dev/2004/10" xmlns:MSHelp="http://msdn.microsoft.com/mshelp">')
        $null = $out.AppendLine(@('    <command:details>', "      <command:name>$(X $command.Name)</command:name>", "      <command:verb>$(X $command.Verb)</command:verb>",
                "      <command:noun>$(X $command.Noun)</command:noun>", '      <maml:description>', (Paras $source.Synopsis '        '), '      </maml:description>',
                '    </command:details>', '    <maml:description>', (Paras $source.Description '      '), '    </maml:description>') -join "`n")
        $null = $out.AppendLine('    <command:syntax>')
        foreach ($set in $command.Sets) {
            $null = $out.AppendLine("      <command:syntaxItem>`n        <maml:name>$(X $command.Name)</maml:name>")
            # Positional parameters first, in position order, as PowerShell's own syntax lines show them.
            foreach ($entry in @($set.Parameters | Sort-Object -Stable { if ($_.Position -ge 0) { $_.Position } else { [int]::MaxValue } }, { -not $_.Mandatory })) {
                $null = $out.AppendLine((ParameterXml $byName[$entry.Name] $texts[$entry.Name] $entry.Mandatory $entry.Position (PipelineInput $entry) $true '        '))
            }
            $null = $out.AppendLine('      </command:syntaxItem>')
        }
        $null = $out.AppendLine('    </command:syntax>')
        $null = $out.AppendLine('    <command:parameters>')
        # In the source's order (the order a reader meets them in), then any shared ones.
        $order = @($source.Parameters.Keys | Where-Object { $byName.ContainsKey($_) }) + @($command.Parameters.Name | Where-Object { -not $source.Parameters.Contains($_) })
        foreach ($name in $order) {
            $meta = $byName[$name]
            $null = $out.AppendLine((ParameterXml $meta $texts[$name] $meta.Mandatory $meta.Position (PipelineInput $meta) $false '      '))
        }
        $null = $out.AppendLine('    </command:parameters>')
        $null = $out.AppendLine((TypeList 'inputTypes' 'inputType' $source.Inputs))
        $null = $out.AppendLine((TypeList 'returnValues' 'returnValue' $source.Outputs))
        $null = $out.AppendLine(@('    <maml:alertSet>', '      <maml:alert>', (Paras $source.Notes '        '), '      </maml:alert>', '    </maml:alertSet>') -join "`n")
        $null = $out.AppendLine('    <command:examples>')
        foreach ($example in $source.Examples) {
            $null = $out.AppendLine(@('      <command:example>', "        <maml:title>-------------------------- $(X $example.Title) --------------------------</maml:title>",
                    "        <dev:code>$(X $example.Code)</dev:code>", '        <dev:remarks>', (Paras $example.Remarks '          '), '        </dev:remarks>',
                    '      </command:example>') -join "`n")
        }
        $null = $out.AppendLine('    </command:examples>')
        $null = $out.AppendLine('    <command:relatedLinks>')
        foreach ($link in $source.Links) {
            $null = $out.AppendLine("      <maml:navigationLink>`n        <maml:linkText>$(X $link)</maml:linkText>`n        <maml:uri />`n      </maml:navigationLink>")
        }
        $null = $out.AppendLine('    </command:relatedLinks>')
        $null = $out.AppendLine('  </command:command>')
    }
    $null = $out.AppendLine('</helpItems>')
    $xml = $out.ToString()
    # Well-formed or nothing: a broken help file would make Get-Help silently show nothing.
    $null = [xml] $xml
    $xml
}

Export-ModuleMember -Function ConvertFrom-HelpMarkdown, Get-CmdletHelpMetadata, ConvertTo-MamlHelp
