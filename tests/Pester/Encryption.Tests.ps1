# OpenPGP encryption of backups through the cmdlets (issue 13, points 1, 2, 4): passphrase and public-key backups
# round trip through Restore-PgBackup and through gpg + stock tools (the RestoreHint, run literally in bash); a
# flipped byte fails Checksum, tampered ciphertext under a re-hashed manifest fails on its integrity code; a missing
# or wrong key fails before the server is touched; listing and retention need no key.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-PgBackupModulePath) -Force
    $script:Cluster = Start-TestCluster
    $script:Cluster.CreateNorthwind('shop')
    $script:Connection = @{ Server = $script:Cluster.Host; Port = $script:Cluster.Port; Credential = New-TestCredential }
    $script:PassText = 'enc-Pass-5e1f!x ü'
    $script:Pass = ConvertTo-SecureString $script:PassText -AsPlainText -Force
    $script:KeyPassText = 'enc-key-Pass-93b0'
    $script:KeyPass = ConvertTo-SecureString $script:KeyPassText -AsPlainText -Force
    $script:SavedVariables = Set-ProcessVariables @{ PGBACKUP_ENCRYPTION_PASSPHRASE = $null }

    # A private gpg home; passphrases reach gpg on its standard input (loopback pinentry), never in its argv.
    $script:GnuPGHome = New-TestFolder -Prefix 'pgbackup-gnupg'
    function Invoke-Gpg([string[]] $Arguments, [string] $Passphrase) {
        $common = '--homedir', $script:GnuPGHome, '--batch', '--no-tty', '--yes', '--pinentry-mode', 'loopback'
        if ($Passphrase) { $Passphrase | & gpg @common --passphrase-fd 0 @Arguments 2>&1 }
        else { & gpg @common @Arguments 2>&1 }
        if ($LASTEXITCODE -ne 0) { throw "gpg $Arguments failed ($LASTEXITCODE)" }
    }
    function New-GpgKey([string] $Name) {
        $null = Invoke-Gpg @('--quick-gen-key', "$Name <$Name@example.com>", 'rsa2048', 'sign,encr', 'never') $script:KeyPassText
        $fingerprint = ((Invoke-Gpg @('--with-colons', '--list-keys', "$Name@example.com")) | Where-Object { $_ -like 'fpr:*' } | Select-Object -First 1).Split(':')[9]
        $public = Join-Path $script:GnuPGHome "$Name.pub.asc"
        $secret = Join-Path $script:GnuPGHome "$Name.sec.gpg"
        $null = Invoke-Gpg @('--armor', '--output', $public, '--export', $fingerprint)
        $null = Invoke-Gpg @('--output', $secret, '--export-secret-keys', $fingerprint) $script:KeyPassText
        [pscustomobject]@{ Fingerprint = $fingerprint; Public = $public; Secret = $secret }
    }
    $script:Alice = New-GpgKey 'alice'
    $script:Mallory = New-GpgKey 'mallory'

    function Get-DumpText([string] $Database) {
        # The whole dump as text; \restrict lines carry a random key per run.
        $text = & $script:Cluster.Tool('pg_dump') -h $script:Cluster.Host -p $script:Cluster.Port -U postgres --no-owner --dbname="dbname=$Database"
        ($text | Where-Object { $_ -notmatch '^\\(un)?restrict ' }) -join "`n"
    }
    function Get-Databases { @($script:Cluster.ListDatabasesAsync().GetAwaiter().GetResult()) }

    # The backup's RestoreHint, literally, in bash next to the artifact; gpg gets its passphrase on stdin.
    function Invoke-RestoreHint($Backup, [string] $Database, [string] $Passphrase) {
        $script:Cluster.CreateDatabase($Database)
        $gpg = "gpg() { command gpg --homedir '$($script:GnuPGHome)' --batch --no-tty --pinentry-mode loopback --passphrase-fd 0 `"`$@`"; }"
        Push-Location (Split-Path $Backup.Location)
        try {
            Invoke-WithEnvironment @{ PGHOST = $script:Cluster.Host; PGPORT = "$($script:Cluster.Port)"; PGUSER = 'postgres'; PGDATABASE = $Database; PGPASSWORD = $null } {
                $output = $Passphrase | & bash -c "set -o pipefail; $gpg; $($Backup.RestoreHint)" 2>&1
                $LASTEXITCODE | Should -Be 0 -Because ($output -join "`n")
            }
        }
        finally { Pop-Location }
    }

    $script:Repo = New-TestFolder -Prefix 'pgbackup-enc'
    $script:Source = Get-DumpText 'shop'
}

AfterAll {
    Restore-ProcessVariables $script:SavedVariables
    if ($script:Cluster) { $script:Cluster.Dispose() }
    foreach ($folder in $script:Repo, $script:GnuPGHome) { if ($folder) { Remove-Item $folder -Recurse -Force -ErrorAction SilentlyContinue } }
}

Describe 'Encrypted backups' {
    It 'round trips a <Mode> <Format> backup through Restore-PgBackup and through gpg and the stock tools (its RestoreHint)' -ForEach @(
        @{ Mode = 'passphrase'; Format = 'Custom' }, @{ Mode = 'passphrase'; Format = 'Plain' }, @{ Mode = 'passphrase'; Format = 'Directory' }
        @{ Mode = 'public-key'; Format = 'Custom' }, @{ Mode = 'public-key'; Format = 'Plain' }, @{ Mode = 'public-key'; Format = 'Directory' }
    ) {
        $encrypt = $Mode -eq 'passphrase' ? @{ EncryptionPassphrase = $script:Pass } : @{ EncryptionPublicKey = $script:Alice.Public }
        $decrypt = $Mode -eq 'passphrase' ? @{ EncryptionPassphrase = $script:Pass } : @{ DecryptionKey = $script:Alice.Secret; DecryptionKeyPassphrase = $script:KeyPass }
        $backup = New-PgBackup -Database shop -Format $Format -Repository $script:Repo @encrypt @script:Connection -ErrorAction Stop

        $backup.Encrypted | Should -BeTrue
        $backup.Location | Should -BeLike '*.gpg'
        $backup.RestoreHint | Should -BeLike "gpg --decrypt '*.gpg' | *"
        $manifest = Get-Content -Raw $backup.ManifestLocation | ConvertFrom-Json
        $manifest.encryption.algorithm | Should -Be 'OpenPGP AES-256'
        # A reader that predates encryption would take the ciphertext for a dump: schema 3 makes it refuse the backup.
        $manifest.schemaVersion | Should -Be 3
        $manifest.encryption.passphraseProtected | Should -Be ($Mode -eq 'passphrase')
        @($manifest.encryption.keyFingerprints) | Should -Be @($Mode -eq 'passphrase' ? @() : @($script:Alice.Fingerprint))
        @($backup.EncryptionKeyFingerprint) | Should -Be @($manifest.encryption.keyFingerprints)
        # The stored bytes are an OpenPGP message (a session key packet first), not pg_dump's or zstd's output.
        $head = [IO.File]::ReadAllBytes($backup.Location)[0]
        ($head -band 0x80) | Should -Be 0x80

        $target = "shop_$($Mode -replace '-', '')_$($Format.ToLowerInvariant())"
        $restored = $backup | Restore-PgBackup -TargetDatabase $target @decrypt @script:Connection -ErrorAction Stop
        $restored.TargetDatabase | Should -Be $target
        Get-DumpText $target | Should -Be $script:Source

        $passphrase = $Mode -eq 'passphrase' ? $script:PassText : $script:KeyPassText
        Invoke-RestoreHint $backup "$($target)_gpg" $passphrase
        Get-DumpText "$($target)_gpg" | Should -Be $script:Source
    }

    It 'a flipped byte fails the Checksum level, which needs no key' {
        $repo = New-TestFolder -Prefix 'pgbackup-enc-flip'
        $backup = New-PgBackup -Database shop -Repository $repo -EncryptionPassphrase $script:Pass @script:Connection -ErrorAction Stop
        ($backup | Test-PgBackup -Level Checksum -ErrorAction Stop).Passed | Should -BeTrue
        $bytes = [IO.File]::ReadAllBytes($backup.Location)
        $bytes[[int]($bytes.Length / 2)] = $bytes[[int]($bytes.Length / 2)] -bxor 0x01
        [IO.File]::WriteAllBytes($backup.Location, $bytes)

        $result = $backup | Test-PgBackup -Level Checksum -ErrorVariable failures -ErrorAction SilentlyContinue
        $result.Passed | Should -BeFalse
        ($result.Checks | Where-Object Name -eq 'SHA-256').Passed | Should -BeFalse
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'BackupTestFailed,*'
    }

    It 'tampered ciphertext under a re-hashed manifest fails on its integrity code, and nothing is restored' {
        $repo = New-TestFolder -Prefix 'pgbackup-enc-tamper'
        $backup = New-PgBackup -Database shop -Repository $repo -EncryptionPassphrase $script:Pass @script:Connection -ErrorAction Stop
        $bytes = [IO.File]::ReadAllBytes($backup.Location)
        $bytes[[int]($bytes.Length / 2)] = $bytes[[int]($bytes.Length / 2)] -bxor 0x01
        [IO.File]::WriteAllBytes($backup.Location, $bytes)
        $sha = (Get-FileHash $backup.Location -Algorithm SHA256).Hash.ToLowerInvariant()
        (Get-Content -Raw $backup.ManifestLocation).Replace($backup.Sha256, $sha) | Set-Content -NoNewline $backup.ManifestLocation
        $tampered = Get-PgBackupInfo -Path $backup.ManifestLocation
        ($tampered | Test-PgBackup -Level Checksum -ErrorAction Stop).Passed | Should -BeTrue
        $before = Get-Databases

        $result = $tampered | Test-PgBackup -Level Restore -EncryptionPassphrase $script:Pass @script:Connection -ErrorAction SilentlyContinue
        $result.Passed | Should -BeFalse
        ($result.Checks | Where-Object Name -eq 'Decryption').Passed | Should -BeFalse
        ($result.Checks | Where-Object Name -eq 'Decryption').Detail | Should -Match 'integrity'
        $result.Checks.Name | Should -Not -Contain 'Restore'
        $null = $tampered | Restore-PgBackup -TargetDatabase shop_tampered -Force -EncryptionPassphrase $script:Pass @script:Connection -ErrorVariable failures -ErrorAction SilentlyContinue
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'DecryptionFailed,*'
        $failures[0].Exception.Message | Should -Match 'integrity'
        Get-Databases | Should -Be $before
    }

    It 'a wrong passphrase, a wrong private key, a wrong key passphrase and a missing key are refused before the server is touched' {
        $repo = New-TestFolder -Prefix 'pgbackup-enc-keys'
        $byPassphrase = New-PgBackup -Database shop -Repository $repo -EncryptionPassphrase $script:Pass @script:Connection -ErrorAction Stop
        $byKey = New-PgBackup -Database shop -Repository $repo -EncryptionPublicKey $script:Alice.Public @script:Connection -ErrorAction Stop
        $wrongPass = ConvertTo-SecureString 'not-the-passphrase' -AsPlainText -Force
        $cases = @(
            @{ Backup = $byPassphrase; Keys = @{ EncryptionPassphrase = $wrongPass }; ErrorId = 'DecryptionFailed' }
            @{ Backup = $byPassphrase; Keys = @{}; ErrorId = 'DecryptionKeyRequired' }
            @{ Backup = $byKey; Keys = @{ DecryptionKey = $script:Mallory.Secret; DecryptionKeyPassphrase = $script:KeyPass }; ErrorId = 'DecryptionKeyRequired' }
            @{ Backup = $byKey; Keys = @{ DecryptionKey = $script:Alice.Secret; DecryptionKeyPassphrase = $wrongPass }; ErrorId = 'DecryptionFailed' }
            @{ Backup = $byKey; Keys = @{ EncryptionPassphrase = $script:Pass }; ErrorId = 'DecryptionKeyRequired' }
            @{ Backup = $byKey; Keys = @{}; ErrorId = 'DecryptionKeyRequired' }
        )
        $before = Get-Databases
        foreach ($case in $cases) {
            $keys = $case.Keys
            $null = $case.Backup | Restore-PgBackup -TargetDatabase shop_refused -Force @keys @script:Connection -ErrorVariable restoreErrors -ErrorAction SilentlyContinue
            $restoreErrors[0].FullyQualifiedErrorId | Should -BeLike "$($case.ErrorId),*" -Because "Restore-PgBackup with $($keys.Keys -join ', ')"
            $null = $case.Backup | Test-PgBackup -Level Restore @keys @script:Connection -ErrorVariable testErrors -ErrorAction SilentlyContinue
            $testErrors[0].FullyQualifiedErrorId | Should -BeLike "$($case.ErrorId),*" -Because "Test-PgBackup with $($keys.Keys -join ', ')"
            $null = $case.Backup | Test-PgBackup -Level Structure @keys -ErrorVariable structureErrors -ErrorAction SilentlyContinue
            $structureErrors[0].FullyQualifiedErrorId | Should -BeLike "$($case.ErrorId),*"
            # The passphrase given is never in a message.
            $restoreErrors[0].Exception.Message | Should -Not -Match 'not-the-passphrase'
        }
        Get-Databases | Should -Be $before
    }

    It 'uses $env:PGBACKUP_ENCRYPTION_PASSPHRASE when no key parameter is given, to write and to read' {
        $repo = New-TestFolder -Prefix 'pgbackup-enc-env'
        Invoke-WithEnvironment @{ PGBACKUP_ENCRYPTION_PASSPHRASE = $script:PassText } {
            $script:EnvBackup = New-PgBackup -Database shop -Repository $repo @script:Connection -ErrorAction Stop
            $script:EnvBackup.Encrypted | Should -BeTrue
            ($script:EnvBackup | Test-PgBackup -Level Structure -ErrorAction Stop).Passed | Should -BeTrue
        }
        $backup = $script:EnvBackup
        # The variable's passphrase is the one used: -EncryptionPassphrase with it opens the backup.
        ($backup | Test-PgBackup -Level Structure -EncryptionPassphrase $script:Pass -ErrorAction Stop).Checks.Name | Should -Contain 'Decryption'
        $null = $backup | Test-PgBackup -Level Structure -ErrorVariable failures -ErrorAction SilentlyContinue
        $failures[0].FullyQualifiedErrorId | Should -BeLike 'DecryptionKeyRequired,*'
    }

    It 'refuses both kinds of encryption at once, and a key file that is not one, before anything is written' {
        $repo = New-TestFolder -Prefix 'pgbackup-enc-invalid'
        $notAKey = Join-Path $repo 'not-a-key.asc'
        Set-Content -LiteralPath $notAKey -Value 'hello'
        $cases = @(
            @{ Keys = @{ EncryptionPassphrase = $script:Pass; EncryptionPublicKey = $script:Alice.Public }; ErrorId = 'InvalidBackupRequest' }
            @{ Keys = @{ EncryptionPublicKey = $notAKey }; ErrorId = 'KeyFileInvalid' }
            @{ Keys = @{ EncryptionPublicKey = $script:Alice.Public, (Join-Path $repo 'missing.asc') }; ErrorId = 'KeyFileInvalid' }
        )
        foreach ($case in $cases) {
            $keys = $case.Keys
            { New-PgBackup -Database shop -Repository $repo @keys @script:Connection -ErrorAction Stop } | Should -Throw -ErrorId "$($case.ErrorId),*"
        }
        @(Get-ChildItem -LiteralPath $repo -Recurse -File).Name | Should -Be @('not-a-key.asc')
        { Test-PgBackup -Path (Join-Path $repo '*.json') -DecryptionKey $notAKey -ErrorAction Stop } | Should -Throw -ErrorId 'KeyFileInvalid,*'
        { Restore-PgBackup -Path (Join-Path $repo '*.json') -DecryptionKey $script:Alice.Public -ErrorAction Stop } | Should -Throw -ErrorId 'KeyFileInvalid,*'
    }

    It 'lists and applies retention to encrypted backups without any key' {
        $repo = New-TestFolder -Prefix 'pgbackup-enc-retention'
        # -Verify reads back what it can: with the passphrase the Structure level, without a secret key the Checksum level.
        $first = New-PgBackup -Database shop -Repository $repo -EncryptionPublicKey $script:Alice.Public -Verify @script:Connection -ErrorAction Stop
        $second = New-PgBackup -Database shop -Repository $repo -EncryptionPassphrase $script:Pass -Verify @script:Connection -ErrorAction Stop
        $listed = @(Get-PgBackupInfo -Repository $repo -ErrorAction Stop)
        $listed.Id | Should -Be @($second.Id, $first.Id)
        $listed.Encrypted | Should -Be @($true, $true)
        @($listed[1].EncryptionKeyFingerprint) | Should -Be @($script:Alice.Fingerprint)
        # The list view says how each is encrypted (never more than the manifest holds).
        ($listed[0] | Format-List | Out-String -Width 200) | Should -Match 'Encryption\s*: OpenPGP AES-256, passphrase'
        ($listed[1] | Format-List | Out-String -Width 200) | Should -Match "Encryption\s*: OpenPGP AES-256 to $($script:Alice.Fingerprint)"
        $removed = @(Remove-PgBackupExpired -Repository $repo -KeepLast 1 -Confirm:$false -PassThru -ErrorAction Stop)
        $removed.Id | Should -Be @($first.Id)
        Test-Path $first.Location | Should -BeFalse
        Test-Path $first.ManifestLocation | Should -BeFalse
        (Get-PgBackupInfo -Repository $repo).Id | Should -Be @($second.Id)
    }

    It 'encrypts a whole-server run, globals included' {
        $repo = New-TestFolder -Prefix 'pgbackup-enc-server'
        $backups = @(New-PgBackup -AllDatabases -ExcludeDatabase 'shop_*' -IncludeGlobals -Repository $repo -EncryptionPassphrase $script:Pass @script:Connection -ErrorAction Stop)
        $backups.Count | Should -BeGreaterOrEqual 3
        $backups.Kind | Should -Contain 'Globals'
        $backups | ForEach-Object { $_.Encrypted | Should -BeTrue; $_.Location | Should -BeLike '*.gpg' }
        $results = @($backups | Test-PgBackup -Level Structure -EncryptionPassphrase $script:Pass -ErrorAction Stop)
        $results.Passed | Should -Not -Contain $false
    }
}

Describe 'Encrypted backups in S3' {
    BeforeAll { $script:S3 = Start-TestS3rver }
    AfterAll { Stop-TestS3rver $script:S3 }

    It 'stores the encrypted bytes byte for byte and reads them back' {
        $backup = New-PgBackup -Database shop -Repository "s3://$($script:S3.Bucket)/enc" -S3Endpoint $script:S3.Endpoint -EncryptionPassphrase $script:Pass @script:Connection -ErrorAction Stop
        $backup.Location | Should -BeLike 's3://*.dump.zst.gpg'
        $script:S3.StoredObjectSha256("enc/$($backup.ArtifactKey)") | Should -Be $backup.Sha256
        ($backup | Test-PgBackup -Level Checksum -ErrorAction Stop).Passed | Should -BeTrue
        $restored = $backup | Restore-PgBackup -TargetDatabase shop_from_s3 -EncryptionPassphrase $script:Pass @script:Connection -ErrorAction Stop
        $restored.TargetDatabase | Should -Be 'shop_from_s3'
        Get-DumpText 'shop_from_s3' | Should -Be $script:Source
    }
}
