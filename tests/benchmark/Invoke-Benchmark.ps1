<#
.SYNOPSIS
    Times PgBackup's cmdlets against the raw PostgreSQL tools on the same database, in the same run.

.DESCRIPTION
    Starts a throwaway cluster, builds a realistic database of about -SizeMB megabytes (customers,
    products, orders, order lines with text, numerics, timestamps, jsonb and indexes), then times:

      backup   pg_dump -Fc -f file                      vs  New-PgBackup (pg_dump | SHA-256 | repository)
      restore  createdb + pg_restore -d                  vs  Restore-PgBackup into a new database   (when the cmdlet exists)
      test     pg_restore into a scratch db, then drop   vs  Test-PgBackup -Level Restore           (when the cmdlet exists)

    Each is run -Repeat times; the median is reported with the ratio cmdlet/raw. Nothing is asserted:
    this is a measurement, to be read by people (wall-clock times do not belong in unit tests).

.EXAMPLE
    dotnet pwsh ./build.ps1 Benchmark -SizeMB 500
#>
[CmdletBinding()]
param(
    [ValidateRange(10, 100000)] [int] $SizeMB = 200,
    [ValidateRange(1, 20)] [int] $Repeat = 3,
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $TestSupportPath
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'
Add-Type -Path $TestSupportPath
Import-Module $ModulePath -Force

function Measure-Median([scriptblock] $Action) {
    $times = foreach ($i in 1..$Repeat) { (Measure-Command $Action).TotalSeconds }
    ($times | Sort-Object)[[int][Math]::Floor($times.Count / 2)]
}

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

    $results = [ordered]@{}
    $rawFile = Join-Path $work 'raw.dump'
    $repository = Join-Path $work 'repository'
    $connection = @{ ConnectionString = $cluster.ConnectionUri('postgres') }

    $raw = Measure-Median { & $cluster.Tool('pg_dump') @pgArgs -Fc -f $rawFile $database; if ($LASTEXITCODE) { throw 'pg_dump failed' } }
    $cmdlet = Measure-Median { $script:backup = New-PgBackup -Database $database -Repository $repository @connection }
    $results['backup'] = @($raw, $cmdlet)

    if (Get-Command Restore-PgBackup -ErrorAction SilentlyContinue) {
        $i = 0
        $raw = Measure-Median { $i++; $null = $cluster.Psql('postgres', "CREATE DATABASE raw_restore_$i"); & $cluster.Tool('pg_restore') @pgArgs -d "raw_restore_$i" $rawFile; if ($LASTEXITCODE) { throw 'pg_restore failed' } }
        $j = 0
        $cmdlet = Measure-Median { $j++; $null = $script:backup | Restore-PgBackup -TargetDatabase "cmdlet_restore_$j" @connection -Confirm:$false }
        $results['restore'] = @($raw, $cmdlet)
    }

    if (Get-Command Test-PgBackup -ErrorAction SilentlyContinue) {
        $k = 0
        $raw = Measure-Median { $k++; $null = $cluster.Psql('postgres', "CREATE DATABASE raw_verify_$k"); & $cluster.Tool('pg_restore') @pgArgs -d "raw_verify_$k" $rawFile; if ($LASTEXITCODE) { throw 'pg_restore failed' }; $null = $cluster.Psql('postgres', "DROP DATABASE raw_verify_$k") }
        $cmdlet = Measure-Median { $null = $script:backup | Test-PgBackup -Level Restore @connection }
        $results['test (restore level)'] = @($raw, $cmdlet)
    }

    Write-Host ''
    Write-Host ("{0,-22} {1,10} {2,10} {3,8}" -f 'operation', 'raw (s)', 'cmdlet (s)', 'ratio')
    foreach ($entry in $results.GetEnumerator()) {
        Write-Host ("{0,-22} {1,10:N2} {2,10:N2} {3,8:N2}" -f $entry.Key, $entry.Value[0], $entry.Value[1], ($entry.Value[1] / $entry.Value[0]))
    }
}
finally {
    $cluster.Dispose()
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}
