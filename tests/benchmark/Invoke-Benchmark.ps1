<#
.SYNOPSIS
    Times PgBackup's cmdlets against the raw PostgreSQL tools on the same database, in the same run.

.DESCRIPTION
    Starts a throwaway cluster, builds a realistic database of about -SizeMB megabytes (customers,
    products, orders, order lines with text, numerics, timestamps, jsonb and indexes), then times:

      New-PgBackup, defaults (zstd)      vs  pg_dump -Fc -Z0 | zstd -1 -T<cores>   (the expert's pipeline)
      New-PgBackup -Compression Gzip     vs  pg_dump -Fc
      New-PgBackup -Compression Lz4/None vs  the expert's pipeline
      New-PgBackup to S3 (s3rver)        vs  the expert's pipeline to a file
      -Format Directory -Jobs 1/2/4      vs  pg_dump -Fd -j 1/2/4 (gzip), and -Jobs 2 against -Jobs 1
      pg_dump -Fd -j 1/2/4 (raw)         vs  pg_dump -Fc, to show how far pg_dump itself scales
      Restore-PgBackup -Jobs 2           vs  pg_restore -j 2
      Test-PgBackup -Level Checksum      vs  sha256sum, and sha256sum && zstd -t (what an expert runs to verify)
    plus an estimate of pg_dump 16's native zstd (pg_dump -Z0 time + single-threaded zstd time), which is
    what the custom-format native/stream choice rests on.

    Each group of commands (backups, restores, checksums) runs -Repeat rounds, each round running every command of
    the group once in turn, so load that drifts during the run hits cmdlet and baseline alike; the median is
    reported with the ratio cmdlet/baseline, printed as a table
    (also as Markdown, for the README) and written as JSON to -OutputPath. Nothing is asserted: this is a
    measurement, to be read by people (wall-clock times do not belong in unit tests).

.EXAMPLE
    dotnet pwsh ./build.ps1 Benchmark -SizeMB 500
#>
[CmdletBinding()]
param(
    [ValidateRange(10, 100000)] [int] $SizeMB = 200,
    [ValidateRange(1, 20)] [int] $Repeat = 3,
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $TestSupportPath,
    # Where the table goes as JSON (build.ps1: out/benchmark.json).
    [string] $OutputPath
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Add-Type -Path $TestSupportPath
Import-Module $ModulePath -Force

$cluster = [PgBackup.TestSupport.PostgresCluster]::Start($null)
$work = Join-Path ([IO.Path]::GetTempPath()) "pgbackup-bench-$([guid]::NewGuid().ToString('N').Substring(0, 8))"
$null = New-Item -ItemType Directory $work
try {
    $pgArgs = @('-h', $cluster.SocketDirectory, '-p', "$($cluster.Port)", '-U', 'postgres')
    $database = 'bench'
    $cluster.CreateDatabase($database)
    # ~1 KB per order with its lines; scale the order count to the requested size.
    $orders = [Math]::Max(1000, $SizeMB * 1000)
    Write-Host "Building '$database' with $orders orders (target ~$SizeMB MB)..."
    $null = $cluster.Psql($database, @"
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text, country text, created_at timestamptz, profile jsonb);
CREATE TABLE products (id int PRIMARY KEY, sku text UNIQUE, title text, price numeric(10,2), attributes jsonb);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int REFERENCES customers(id), ordered_at timestamptz, status text, note text);
CREATE TABLE order_lines (order_id bigint REFERENCES orders(id), line int, product_id int REFERENCES products(id), quantity int, unit_price numeric(10,2), PRIMARY KEY (order_id, line));
INSERT INTO customers SELECT g, 'Customer ' || g, 'c' || g || '@example.test', (ARRAY['DE','FR','US','JP','BR'])[1 + g % 5], now() - (g || ' minutes')::interval,
    jsonb_build_object('tier', g % 3, 'tags', jsonb_build_array('a' || g % 7, 'b' || g % 11)) FROM generate_series(1, $([Math]::Max(100, $orders / 10))) g;
INSERT INTO products SELECT g, 'SKU-' || lpad(g::text, 6, '0'), 'Product ' || md5(g::text), (g % 500) + 0.99, jsonb_build_object('weight', g % 50, 'color', md5((g*3)::text)) FROM generate_series(1, 5000) g;
INSERT INTO orders SELECT g, 1 + g % $([Math]::Max(100, $orders / 10)), now() - (g || ' seconds')::interval, (ARRAY['new','paid','shipped','returned'])[1 + g % 4], repeat(md5(g::text), 6) FROM generate_series(1, $orders) g;
INSERT INTO order_lines SELECT o, l, 1 + (o * l) % 5000, 1 + (o + l) % 9, ((o * l) % 500) + 0.49 FROM generate_series(1, $orders) o, generate_series(1, 4) l;
CREATE INDEX ON orders (customer_id); CREATE INDEX ON orders (ordered_at); CREATE INDEX ON order_lines (product_id);
ANALYZE;
"@)
    $sizeBytes = [long]$cluster.Psql($database, "SELECT pg_database_size('$database')")
    Write-Host ("Database size: {0:N0} MiB" -f ($sizeBytes / 1MB))

    $results = [System.Collections.Generic.List[object]]::new()
    $rawFile = Join-Path $work 'raw.dump'
    $repository = Join-Path $work 'repository'
    $connection = @{ ConnectionString = $cluster.ConnectionUri('postgres') }
    $bash = { param([string] $Command) & bash -c "set -eo pipefail; $Command"; if ($LASTEXITCODE) { throw "failed: $Command" } }
    $pgEnv = "PGHOST='$($cluster.SocketDirectory)' PGPORT=$($cluster.Port) PGUSER=postgres PATH='$(Split-Path $cluster.Tool('pg_dump')):$env:PATH'"
    $cores = [Environment]::ProcessorCount
    $expertName = "pg_dump -Fc -Z0 | zstd -1 -T$cores"

    function Add-Row([string] $Name, [string] $Baseline, [double] $BaselineSeconds, [double] $CmdletSeconds, [long] $Bytes = 0) {
        $row = [pscustomobject]@{ Operation = $Name; Baseline = $Baseline; BaselineSeconds = [Math]::Round($BaselineSeconds, 2); CmdletSeconds = [Math]::Round($CmdletSeconds, 2); Ratio = [Math]::Round($CmdletSeconds / $BaselineSeconds, 2); StoredMB = [Math]::Round($Bytes / 1MB, 1) }
        $results.Add($row)
        Write-Host ("{0,-40} {1,7:N2}s {2,7:N2}s {3,6:N2}x  vs {4}" -f $row.Operation, $row.CmdletSeconds, $row.BaselineSeconds, $row.Ratio, $row.Baseline)
    }

    # Runs every command of a group once per repeat, in turn (A, B, C, A, B, C, ...), so load that drifts during
    # the run (other processes, the page cache) hits each command alike; returns each command's median in seconds.
    # -Before runs untimed ahead of every command, to start each from the same state.
    function Measure-Interleaved([System.Collections.Specialized.OrderedDictionary] $Commands, [scriptblock] $Before) {
        $times = [ordered]@{}
        foreach ($name in $Commands.Keys) { $times[$name] = [System.Collections.Generic.List[double]]::new() }
        foreach ($i in 1..$Repeat) {
            foreach ($name in $Commands.Keys) {
                if ($Before) { & $Before }
                $times[$name].Add((Measure-Command $Commands[$name]).TotalSeconds)
                Write-Verbose ("{0}: {1:N2}s" -f $name, $times[$name][-1])
            }
        }
        $medians = @{}
        foreach ($name in $times.Keys) { $medians[$name] = ($times[$name] | Sort-Object)[[int][Math]::Floor($Repeat / 2)] }
        $medians
    }

    # The stored size of the last backup each cmdlet command made, for the table.
    $stored = @{}
    function Backup([string] $Name, [hashtable] $Options, [string] $Target = $repository) {
        $backup = New-PgBackup -Database $database -Repository $Target @connection @Options -ErrorAction Stop
        $stored[$Name] = $backup
    }

    # Backups: the baselines are what an expert would type. To add a row, add its command here and an Add-Row below.
    $backups = [ordered]@{
        expert = { & $bash "$pgEnv pg_dump -Fc -Z0 $database | zstd -q -1 -T$cores -o '$work/expert.dump.zst' -f" }
        pgDumpFc = { & $bash "$pgEnv pg_dump -Fc -f '$rawFile' $database" }
        # The two halves of pg_dump 16's native zstd (compression on pg_dump's own thread), for the native/stream choice.
        dumpOnly = { & $bash "$pgEnv pg_dump -Fc -Z0 -f '$work/z0.dump' $database" }
        zstdOneThread = { & $bash "zstd -q -1 -T1 -f '$work/z0.dump' -o '$work/z0.dump.zst'" }
        default = { Backup default @{} }
        encrypted = { Backup encrypted @{ EncryptionPassphrase = (ConvertTo-SecureString 'benchmark-only' -AsPlainText -Force) } }
        Gzip = { Backup Gzip @{ Compression = 'Gzip' } }
        Lz4 = { Backup Lz4 @{ Compression = 'Lz4' } }
        None = { Backup None @{ Compression = 'None' } }
    }
    foreach ($jobs in 1, 2, 4) {
        $backups["pgDumpFd$jobs"] = [scriptblock]::Create("& `$bash `"rm -rf '$work/fd'; $pgEnv pg_dump -Fd -j $jobs -f '$work/fd' $database`"")
        $backups["directory$jobs"] = [scriptblock]::Create("Backup directory$jobs @{ Format = 'Directory'; Compression = 'Gzip'; Jobs = $jobs }")
    }

    $s3 = $null
    try {
        $env:AWS_ACCESS_KEY_ID = [PgBackup.TestSupport.S3rverServer]::AccessKey
        $env:AWS_SECRET_ACCESS_KEY = [PgBackup.TestSupport.S3rverServer]::SecretKey
        $s3 = [PgBackup.TestSupport.S3rverServer]::Start()
        $backups['s3'] = { Backup s3 @{ S3Endpoint = $s3.Endpoint } "s3://$($s3.Bucket)/bench" }
    }
    catch { Write-Warning "S3 row skipped: $_" }

    # One unmeasured backup first: module load and JIT would otherwise land on the first round's first cmdlet.
    Backup warmUp @{ Compression = 'None' }
    Write-Host "Backups: $($backups.Count) commands, $Repeat rounds, interleaved..."
    try { $t = Measure-Interleaved $backups }
    finally { if ($s3) { $s3.Dispose() } }

    Write-Host ("pg_dump -Fc: {0:N1} MiB; pg_dump -Fc -Z0: {1:N1} MiB; expert zstd -1: {2:N1} MiB" -f ((Get-Item $rawFile).Length / 1MB), ((Get-Item "$work/z0.dump").Length / 1MB), ((Get-Item "$work/expert.dump.zst").Length / 1MB))
    Write-Host ''
    Write-Host ("{0,-40} {1,8} {2,8} {3,7}  {4}" -f 'operation', 'cmdlet', 'baseline', 'ratio', 'baseline')
    Add-Row 'New-PgBackup (defaults: zstd)' $expertName $t.expert $t.default $stored.default.SizeBytes
    Add-Row 'New-PgBackup -EncryptionPassphrase' 'New-PgBackup (defaults: zstd)' $t.default $t.encrypted $stored.encrypted.SizeBytes
    Add-Row 'New-PgBackup -Compression Gzip' 'pg_dump -Fc' $t.pgDumpFc $t.Gzip $stored.Gzip.SizeBytes
    Add-Row 'New-PgBackup -Compression Lz4' $expertName $t.expert $t.Lz4 $stored.Lz4.SizeBytes
    Add-Row 'New-PgBackup -Compression None' $expertName $t.expert $t.None $stored.None.SizeBytes
    Add-Row 'native zstd estimate (dump + zstd -T1)' $expertName $t.expert ($t.dumpOnly + $t.zstdOneThread)
    foreach ($jobs in 1, 2, 4) {
        Add-Row "New-PgBackup -Format Directory -Jobs $jobs" "pg_dump -Fd -j $jobs" $t["pgDumpFd$jobs"] $t["directory$jobs"] $stored["directory$jobs"].SizeBytes
    }
    foreach ($jobs in 1, 2, 4) {
        Add-Row "pg_dump -Fd -j $jobs (raw, for scale)" 'pg_dump -Fc' $t.pgDumpFc $t["pgDumpFd$jobs"]
    }
    Write-Host ("Directory -Jobs 2 is {0:N2}x as fast as -Jobs 1 (goal: 1.6x); pg_dump -Fd -j 2 is {1:N2}x as fast as -j 1" -f ($t.directory1 / $t.directory2), ($t.pgDumpFd1 / $t.pgDumpFd2))
    if ($t.Contains('s3')) {
        Add-Row 'New-PgBackup to S3 (s3rver)' "$expertName (to a file)" $t.expert $t.s3 $stored.s3.SizeBytes
    }

    $defaultBackup = $stored.default
    $restores = [ordered]@{
        raw = { $script:restoreRun++; $null = $cluster.Psql('postgres', "CREATE DATABASE raw_restore_$script:restoreRun"); & $bash "$pgEnv pg_restore -j 2 -d raw_restore_$script:restoreRun '$rawFile'" }
        cmdlet = { $script:restoreRun++; $null = $defaultBackup | Restore-PgBackup -TargetDatabase "cmdlet_restore_$script:restoreRun" -Jobs 2 @connection -Confirm:$false }
    }
    $script:restoreRun = 0
    # Each restore writes ~the database's size of new data and WAL: without a reset in between, the previous run's
    # checkpoint and the growing cluster land on whichever restore comes next (runs of the same command differed by 2 s).
    # So every restore starts alike: the previous restores dropped, then a checkpoint, untimed.
    $resetCluster = {
        foreach ($name in @($cluster.Psql('postgres', "SELECT datname FROM pg_database WHERE datname ~ '^(raw|cmdlet)_restore_'") -split "`n" | Where-Object { $_ })) {
            $null = $cluster.Psql('postgres', "DROP DATABASE `"$($name.Trim())`"")
        }
        $null = $cluster.Psql('postgres', 'CHECKPOINT')
    }
    $t = Measure-Interleaved $restores -Before $resetCluster
    Add-Row 'Restore-PgBackup -Jobs 2 (zstd)' 'pg_restore -j 2 (pg_dump -Fc)' $t.raw $t.cmdlet

    $checksums = [ordered]@{
        sha256sum = { & $bash "sha256sum '$($defaultBackup.Location)' > /dev/null" }
        sha256sumZstd = { & $bash "sha256sum '$($defaultBackup.Location)' > /dev/null && zstd -q -t '$($defaultBackup.Location)'" }
        cmdlet = { $null = $defaultBackup | Test-PgBackup -Level Checksum -ErrorAction Stop }
    }
    $t = Measure-Interleaved $checksums
    Add-Row 'Test-PgBackup -Level Checksum' 'sha256sum' $t.sha256sum $t.cmdlet
    Add-Row 'Test-PgBackup -Level Checksum' 'sha256sum && zstd -t' $t.sha256sumZstd $t.cmdlet

    $load = (Get-Content /proc/loadavg -ErrorAction SilentlyContinue) -split ' ' | Select-Object -First 3
    $report = [ordered]@{
        date = [DateTime]::UtcNow.ToString('o')
        machine = [ordered]@{ cores = $cores; os = [Runtime.InteropServices.RuntimeInformation]::OSDescription; cpu = ((Get-Content /proc/cpuinfo -ErrorAction SilentlyContinue | Where-Object { $_ -like 'model name*' } | Select-Object -First 1) -replace '^.*:\s*', ''); loadAverageAfter = $load }
        databaseMiB = [Math]::Round($sizeBytes / 1MB)
        repeat = $Repeat
        pgDumpVersion = (& $cluster.Tool('pg_dump') --version)
        rows = $results
    }
    if ($OutputPath) {
        $null = New-Item -ItemType Directory -Force (Split-Path $OutputPath)
        $report | ConvertTo-Json -Depth 5 | Set-Content -LiteralPath $OutputPath
        Write-Host "Written $OutputPath"
    }
    Write-Host ''
    Write-Host "| Operation | PgBackup (s) | Baseline | Baseline (s) | Ratio | Stored MiB |"
    Write-Host "|---|---:|---|---:|---:|---:|"
    foreach ($row in $results) { Write-Host ("| {0} | {1:N2} | {2} | {3:N2} | {4:N2} | {5} |" -f $row.Operation, $row.CmdletSeconds, ($row.Baseline -replace '\|', '\|'), $row.BaselineSeconds, $row.Ratio, $(if ($row.StoredMB) { $row.StoredMB } else { '' })) }
    Write-Host ("Machine: {0} cores, {1}; load average after the run: {2}" -f $cores, $report.machine.cpu, ($load -join ' '))
}
finally {
    $cluster.Dispose()
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
