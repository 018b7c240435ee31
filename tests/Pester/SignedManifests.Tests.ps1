# Signed manifests (issue 13, point 3) through the cmdlets: New-PgBackup -SigningKey writes <manifest>.sig, gpg verifies
# it, and Test-/Restore-PgBackup -TrustedSigningKey refuse whatever is unsigned, foreign-signed or changed, before the
# server is touched. Keys are made by the gpg binary in a private gpg home.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-PgBackupModulePath) -Force
    $script:Cluster = Start-TestCluster
    $script:Cluster.CreateNorthwind('sig_src')
    $script:Cluster.CreateDatabase('sig_other')
    $null = $script:Cluster.Psql('sig_other', "CREATE TABLE swapped (note text); INSERT INTO swapped VALUES ('not the backup you signed');")
    $script:Connection = @{ ConnectionString = "postgresql://postgres@127.0.0.1:$($script:Cluster.Port)/postgres" }

    $script:GpgHome = New-TestGpgHome
    $script:KeyPassphraseText = 'signing key passphrase ü ' + [guid]::NewGuid().ToString('N')
    $script:KeyPassphrase = ConvertTo-SecureString $script:KeyPassphraseText -AsPlainText -Force
    $script:Signer = New-TestSigningKey $script:GpgHome 'signer' -Passphrase $script:KeyPassphraseText
    $script:Foreign = New-TestSigningKey $script:GpgHome 'foreign'
    $script:Sign = @{ SigningKey = $script:Signer.SecretKeyFile; SigningKeyPassphrase = $script:KeyPassphrase }

    function Get-Databases { @($script:Cluster.ListDatabasesAsync().GetAwaiter().GetResult()) }
    function Get-RepositoryFiles([string] $Repository) { @(Get-ChildItem $Repository -Recurse -File -Force | ForEach-Object FullName | Sort-Object) }
    function Get-RowCounts([string] $Database) {
        ($script:Cluster.RowCountsAsync($Database).GetAwaiter().GetResult().GetEnumerator() | Sort-Object Key | ForEach-Object { "$($_.Key)=$($_.Value)" }) -join ';'
    }
    function Test-GpgVerify([string] $Manifest) {
        # A verifier's own gpg home, holding only the signer's public key.
        $verifierHome = New-TestGpgHome
        try {
            $null = Invoke-TestGpg $verifierHome @('--import', $script:Signer.PublicKeyFile)
            $status = Invoke-TestGpg $verifierHome @('--status-fd', '1', '--verify', "$Manifest.sig", $Manifest)
            [pscustomobject]@{ ExitCode = $LASTEXITCODE; Status = ($status -join "`n") }
        }
        finally { Remove-TestGpgHome $verifierHome }
    }
    function Assert-RefusedWithoutTouchingTheServer([object] $Backup, [string] $Because) {
        # Test-PgBackup at the Restore level and Restore-PgBackup into a new database: SignatureInvalid, no database made.
        $before = (Get-Databases | Sort-Object) -join ','
        $errors = $null
        $result = Test-PgBackup -InputObject $Backup -Level Restore -TrustedSigningKey $script:Signer.PublicKeyFile @script:Connection -ErrorAction SilentlyContinue -ErrorVariable errors
        $result.Passed | Should -BeFalse -Because $Because
        $result.Checks.Count | Should -Be 1
        $result.Checks[0].Name | Should -Be 'Signature'
        $result.Checks[0].Passed | Should -BeFalse
        $result.TemporaryDatabase | Should -BeNullOrEmpty
        @($errors).Count | Should -Be 1
        $errors[0].FullyQualifiedErrorId | Should -Be 'SignatureInvalid,PgBackup.Commands.TestPgBackupCommand'

        $errors = $null
        $restored = Restore-PgBackup -InputObject $Backup -TargetDatabase "sig_refused_$([guid]::NewGuid().ToString('N').Substring(0, 6))" `
            -TrustedSigningKey $script:Signer.PublicKeyFile @script:Connection -ErrorAction SilentlyContinue -ErrorVariable errors
        $restored | Should -BeNullOrEmpty
        @($errors).Count | Should -Be 1
        $errors[0].FullyQualifiedErrorId | Should -Be 'SignatureInvalid,PgBackup.Commands.RestorePgBackupCommand'
        $errors[0].ErrorDetails.RecommendedAction | Should -Match 'TrustedSigningKey'
        (Get-Databases | Sort-Object) -join ',' | Should -Be $before -Because 'a refused backup touches no database'
        $errors[0]
    }
}

AfterAll {
    if ($script:Cluster) { $script:Cluster.Dispose() }
    Remove-TestGpgHome $script:GpgHome
}

Describe 'Signed manifests: parameters' {
    It 'New-PgBackup takes -SigningKey (path) and -SigningKeyPassphrase (SecureString); Test-/Restore-PgBackup take -TrustedSigningKey (paths)' {
        $new = Get-Command New-PgBackup
        $new.Parameters['SigningKey'].ParameterType | Should -Be ([string])
        $new.Parameters['SigningKeyPassphrase'].ParameterType | Should -Be ([securestring])
        (Get-Command Test-PgBackup).Parameters['TrustedSigningKey'].ParameterType | Should -Be ([string[]])
        (Get-Command Restore-PgBackup).Parameters['TrustedSigningKey'].ParameterType | Should -Be ([string[]])
    }
}

Describe 'Signed manifests: a signed backup' {
    BeforeAll {
        $script:Repository = New-TestFolder -Prefix 'pgbackup-signed'
        $script:Verbose = New-PgBackup -Database sig_src -Repository $script:Repository @script:Sign @script:Connection -ErrorAction Stop -Verbose 4>&1
        $script:Backup = $script:Verbose | Where-Object { $_ -is [PgBackup.BackupInfo] }
    }
    AfterAll { Remove-Item $script:Repository -Recurse -Force -ErrorAction SilentlyContinue }

    It 'has a .sig next to its manifest, and says Signed (as Get-PgBackupInfo does)' {
        $script:Backup.Signed | Should -BeTrue
        Test-Path -LiteralPath "$($script:Backup.ManifestLocation).sig" | Should -BeTrue
        (Get-PgBackupInfo -Repository $script:Repository).Signed | Should -BeTrue
        (Get-PgBackupInfo -Path $script:Backup.ManifestLocation).Signed | Should -BeTrue
        (Get-PgBackupInfo -Path $script:Backup.ManifestLocation | Format-List | Out-String) | Should -Match 'Signed\s*: True'
        # A .sig is no backup of its own: listing shows one backup, and a path to the .sig names its manifest.
        @(Get-PgBackupInfo -Repository $script:Repository).Count | Should -Be 1
        (Get-PgBackupInfo -Path "$($script:Backup.ManifestLocation).sig").Id | Should -Be $script:Backup.Id
        @(Test-PgBackup -Path (Join-Path (Split-Path $script:Backup.ManifestLocation) '*') -Level Checksum -ErrorAction Stop).Count | Should -Be 1
    }

    It 'gpg --verify (a separate gpg home with only the public key imported) accepts the .sig over the stored manifest' {
        $verified = Test-GpgVerify $script:Backup.ManifestLocation
        $verified.ExitCode | Should -Be 0 -Because $verified.Status
        $verified.Status | Should -Match '\[GNUPG:\] GOODSIG'
        $verified.Status | Should -Match "\[GNUPG:\] VALIDSIG [0-9A-F]{40} .* $($script:Signer.Fingerprint)"
    }

    It 'keeps the key passphrase out of verbose output, the manifest and the signature' {
        ($script:Verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Out-String) | Should -Not -Match ([regex]::Escape($script:KeyPassphraseText))
        ($script:Verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Out-String) | Should -Match $script:Signer.Fingerprint
        foreach ($file in Get-RepositoryFiles $script:Repository) {
            [IO.File]::ReadAllText($file) | Should -Not -Match ([regex]::Escape($script:KeyPassphraseText))
        }
    }

    It 'Test-PgBackup -TrustedSigningKey passes it, with the Signature check first' {
        $result = Test-PgBackup -InputObject $script:Backup -TrustedSigningKey $script:Foreign.PublicKeyFile, $script:Signer.PublicKeyFile -ErrorAction Stop
        $result.Passed | Should -BeTrue
        $result.Checks[0].Name | Should -Be 'Signature'
        $result.Checks[0].Passed | Should -BeTrue
        $result.Checks[0].Detail | Should -Match $script:Signer.Fingerprint
        @($result.Checks.Name) | Should -Contain 'SHA-256'
    }

    It 'Restore-PgBackup -TrustedSigningKey restores it into an identical database' {
        $restored = Restore-PgBackup -Path $script:Backup.ManifestLocation -TargetDatabase sig_restored -TrustedSigningKey $script:Signer.PublicKeyFile @script:Connection -ErrorAction Stop
        $restored.TargetDatabase | Should -Be 'sig_restored'
        Get-RowCounts 'sig_restored' | Should -Be (Get-RowCounts 'sig_src')
        $script:Cluster.SchemaDump('sig_restored') | Should -Be $script:Cluster.SchemaDump('sig_src')
    }
}

Describe 'Signed manifests: refusals' {
    BeforeEach {
        $script:Repository = New-TestFolder -Prefix 'pgbackup-signed'
        $script:Attacker = New-TestFolder -Prefix 'pgbackup-attacker'
    }
    AfterEach { Remove-Item $script:Repository, $script:Attacker -Recurse -Force -ErrorAction SilentlyContinue }

    It 'refuses an unsigned manifest (SignatureInvalid), creating no database' {
        $unsigned = New-PgBackup -Database sig_src -Repository $script:Repository @script:Connection -ErrorAction Stop
        $unsigned.Signed | Should -BeFalse
        (Test-PgBackup -InputObject $unsigned -Level Checksum -ErrorAction Stop).Passed | Should -BeTrue -Because 'the backup itself is sound'

        $record = Assert-RefusedWithoutTouchingTheServer $unsigned 'an unsigned manifest proves nothing'
        $record.Exception.Message | Should -Match 'not signed'
    }

    It 'refuses a manifest signed by a key that is not trusted, naming it' {
        $foreign = New-PgBackup -Database sig_src -Repository $script:Repository -SigningKey $script:Foreign.SecretKeyFile @script:Connection -ErrorAction Stop
        $foreign.Signed | Should -BeTrue

        $record = Assert-RefusedWithoutTouchingTheServer $foreign 'only the trusted keys count'
        $record.Exception.Message | Should -Match 'not among the trusted signing keys'
        $record.Exception.Message | Should -Match $script:Foreign.Fingerprint.Substring(24)
    }

    It 'refuses a manifest edited after it was signed' {
        $signed = New-PgBackup -Database sig_src -Repository $script:Repository @script:Sign @script:Connection -ErrorAction Stop
        $text = [IO.File]::ReadAllText($signed.ManifestLocation)
        [IO.File]::WriteAllText($signed.ManifestLocation, $text.Replace('"sig_src"', '"sig_src2"'))
        [IO.File]::ReadAllText($signed.ManifestLocation) | Should -Not -Be $text

        $record = Assert-RefusedWithoutTouchingTheServer $signed 'the signature no longer matches the manifest'
        $record.Exception.Message | Should -Match 'changed after it was signed'
        (Test-GpgVerify $signed.ManifestLocation).ExitCode | Should -Not -Be 0 -Because 'gpg agrees'
    }

    It 'refuses a swapped artifact with a rewritten, unsigned manifest (which passes without -TrustedSigningKey)' {
        $signed = New-PgBackup -Database sig_src -Repository $script:Repository @script:Sign @script:Connection -ErrorAction Stop
        $other = New-PgBackup -Database sig_other -Repository $script:Attacker @script:Connection -ErrorAction Stop
        # The attacker replaces the artifact, rewrites the manifest to match it, and cannot sign: the old .sig goes.
        Copy-Item $other.Location $signed.Location -Force
        $manifest = [IO.File]::ReadAllText($signed.ManifestLocation)
        $manifest = $manifest.Replace($signed.Sha256, $other.Sha256) -replace '"sizeBytes":\s*\d+', "`"sizeBytes`": $($other.SizeBytes)"
        [IO.File]::WriteAllText($signed.ManifestLocation, $manifest)
        Remove-Item "$($signed.ManifestLocation).sig"
        $swapped = Get-PgBackupInfo -Path $signed.ManifestLocation
        $swapped.Sha256 | Should -Be $other.Sha256
        (Test-PgBackup -InputObject $swapped -Level Checksum -ErrorAction Stop).Passed | Should -BeTrue -Because 'without trusted keys the swap goes unnoticed'

        $record = Assert-RefusedWithoutTouchingTheServer $swapped 'the rewritten manifest is unsigned'
        $record.Exception.Message | Should -Match 'not signed'
    }

    It 'refuses a swapped artifact when the manifest was rewritten but its old .sig kept, even for a stale piped object' {
        $signed = New-PgBackup -Database sig_src -Repository $script:Repository @script:Sign @script:Connection -ErrorAction Stop
        $other = New-PgBackup -Database sig_other -Repository $script:Attacker @script:Connection -ErrorAction Stop
        Copy-Item $other.Location $signed.Location -Force
        $manifest = [IO.File]::ReadAllText($signed.ManifestLocation).Replace($signed.Sha256, $other.Sha256) -replace '"sizeBytes":\s*\d+', "`"sizeBytes`": $($other.SizeBytes)"
        [IO.File]::WriteAllText($signed.ManifestLocation, $manifest)

        # $signed still carries the signed SHA-256: the manifest is read again, once, and its bytes are what is verified.
        $null = Assert-RefusedWithoutTouchingTheServer $signed 'the kept signature does not match the rewritten manifest'
    }
}

Describe 'Signed manifests: a signing key that does not open writes nothing' {
    BeforeEach {
        $script:Repository = New-TestFolder -Prefix 'pgbackup-signed'
    }
    AfterEach { Remove-Item $script:Repository -Recurse -Force -ErrorAction SilentlyContinue }

    It 'a wrong key passphrase is DecryptionFailed before any dump, and the passphrase is not in the error' {
        $wrongText = 'wrong passphrase ' + [guid]::NewGuid().ToString('N')
        $wrong = ConvertTo-SecureString $wrongText -AsPlainText -Force
        $thrown = { New-PgBackup -Database sig_src -Repository $script:Repository -SigningKey $script:Signer.SecretKeyFile -SigningKeyPassphrase $wrong @script:Connection -ErrorAction Stop } |
            Should -Throw -ErrorId 'DecryptionFailed,PgBackup.Commands.NewPgBackupCommand' -PassThru
        $thrown.Exception.Message | Should -Not -Match ([regex]::Escape($wrongText))
        $thrown.Exception.Message | Should -Not -Match ([regex]::Escape($script:KeyPassphraseText))
        Get-RepositoryFiles $script:Repository | Should -BeNullOrEmpty
    }

    It 'a protected key without -SigningKeyPassphrase is DecryptionFailed, writing nothing' {
        { New-PgBackup -Database sig_src -Repository $script:Repository -SigningKey $script:Signer.SecretKeyFile @script:Connection -ErrorAction Stop } |
            Should -Throw -ErrorId 'DecryptionFailed,PgBackup.Commands.NewPgBackupCommand'
        Get-RepositoryFiles $script:Repository | Should -BeNullOrEmpty
    }

    It 'a file that is not a secret key (<Case>) is KeyFileInvalid, writing nothing' -ForEach @(
        @{ Case = 'a public key' }
        @{ Case = 'garbage' }
        @{ Case = 'a missing file' }
    ) {
        $keyFile = switch ($Case) {
            'a public key' { $script:Signer.PublicKeyFile }
            'garbage' { $path = Join-Path $script:GpgHome 'garbage.asc'; [IO.File]::WriteAllBytes($path, [byte[]](1..200)); $path }
            default { Join-Path $script:GpgHome 'no-such-key.asc' }
        }
        { New-PgBackup -Database sig_src -Repository $script:Repository -SigningKey $keyFile -SigningKeyPassphrase $script:KeyPassphrase @script:Connection -ErrorAction Stop } |
            Should -Throw -ErrorId 'KeyFileInvalid,PgBackup.Commands.NewPgBackupCommand'
        Get-RepositoryFiles $script:Repository | Should -BeNullOrEmpty
    }

    It '-SigningKeyPassphrase without -SigningKey is InvalidBackupRequest, writing nothing' {
        { New-PgBackup -Database sig_src -Repository $script:Repository -SigningKeyPassphrase $script:KeyPassphrase @script:Connection -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidBackupRequest,PgBackup.Commands.NewPgBackupCommand'
        Get-RepositoryFiles $script:Repository | Should -BeNullOrEmpty
    }

    It 'an unreadable -TrustedSigningKey is KeyFileInvalid before anything is read' {
        $backup = New-PgBackup -Database sig_src -Repository $script:Repository @script:Sign @script:Connection -ErrorAction Stop
        { Test-PgBackup -InputObject $backup -TrustedSigningKey $script:Signer.SecretKeyFile.Replace('.sec.', '.missing.') -ErrorAction Stop } |
            Should -Throw -ErrorId 'KeyFileInvalid,PgBackup.Commands.TestPgBackupCommand'
    }
}

Describe 'Signed manifests: whole-server runs and failed attempts' {
    BeforeAll {
        $script:Repository = New-TestFolder -Prefix 'pgbackup-signed'
        $null = $script:Cluster.Psql('postgres', 'CREATE DATABASE sig_closed ALLOW_CONNECTIONS false;')
    }
    AfterAll { Remove-Item $script:Repository -Recurse -Force -ErrorAction SilentlyContinue }

    It 'signs every manifest of a run: each database, the globals, and a failed attempt' {
        $errors = $null
        $backups = @(New-PgBackup -Database 'sig_src', 'sig_other', 'sig_closed' -IncludeGlobals -Repository $script:Repository @script:Sign @script:Connection -ErrorAction SilentlyContinue -ErrorVariable errors)
        $backups.Count | Should -Be 3
        @($errors).Count | Should -Be 1 -Because 'sig_closed refuses connections'

        $listed = @(Get-PgBackupInfo -Repository $script:Repository)
        $listed.Count | Should -Be 4
        ($listed | Where-Object Status -eq 'Failed').Database | Should -Be 'sig_closed'
        ($listed | Where-Object Kind -eq 'Globals').Count | Should -Be 1
        $listed.Signed | Should -Not -Contain $false
        foreach ($backup in $listed) {
            (Test-GpgVerify $backup.ManifestLocation).ExitCode | Should -Be 0 -Because $backup.ManifestLocation
        }
        @(Get-ChildItem $script:Repository -Recurse -Filter '*.sig').Count | Should -Be 4
    }
}

Describe 'Signed manifests: retention' {
    BeforeAll {
        $script:Repository = New-TestFolder -Prefix 'pgbackup-signed'
    }
    AfterAll { Remove-Item $script:Repository -Recurse -Force -ErrorAction SilentlyContinue }

    It 'removes an expired backup''s .sig with it; -IncludeIncomplete removes only orphan .sig files' {
        $old = New-PgBackup -Database sig_src -Repository $script:Repository @script:Sign @script:Connection -ErrorAction Stop
        $new = New-PgBackup -Database sig_src -Repository $script:Repository @script:Sign @script:Connection -ErrorAction Stop
        # Everything two days old, so -IncludeIncomplete may judge it; an orphan .sig whose manifest is long gone.
        $orphan = Join-Path (Split-Path $new.ManifestLocation) 'sig_src_20200101T000000Z_beef.dump.zst.manifest.json.sig'
        Copy-Item "$($new.ManifestLocation).sig" $orphan
        Get-ChildItem $script:Repository -Recurse -File | ForEach-Object { $_.LastWriteTimeUtc = (Get-Date).ToUniversalTime().AddDays(-2) }

        $removed = @(Remove-PgBackupExpired -Repository $script:Repository -KeepLast 1 -IncludeIncomplete -PassThru -Confirm:$false -ErrorAction Stop)

        $removed.Id | Should -Be $old.Id
        Test-Path -LiteralPath $old.ManifestLocation | Should -BeFalse
        Test-Path -LiteralPath "$($old.ManifestLocation).sig" | Should -BeFalse
        Test-Path -LiteralPath $orphan | Should -BeFalse
        Test-Path -LiteralPath "$($new.ManifestLocation).sig" | Should -BeTrue -Because 'a kept backup keeps its signature, however old'
        (Get-PgBackupInfo -Repository $script:Repository).Signed | Should -BeTrue
        (Test-PgBackup -InputObject $new -TrustedSigningKey $script:Signer.PublicKeyFile -Level Checksum -ErrorAction Stop).Passed | Should -BeTrue
    }
}

Describe 'Signed manifests: S3 repositories' {
    BeforeAll {
        $script:S3 = Start-TestS3rver
        $script:S3Repository = "s3://$($script:S3.Bucket)/signed"
    }
    AfterAll { Stop-TestS3rver $script:S3 }

    It 'stores the .sig byte for byte, gpg verifies it against the stored manifest, and -TrustedSigningKey passes and restores' {
        $backup = New-PgBackup -Database sig_src -Repository $script:S3Repository -S3Endpoint $script:S3.Endpoint @script:Sign @script:Connection -ErrorAction Stop
        $backup.Signed | Should -BeTrue
        $keys = Get-TestS3Keys $script:S3 'signed'
        $keys | Should -Contain "signed/$($backup.ManifestKey).sig"
        (Get-PgBackupInfo -Repository $script:S3Repository -S3Endpoint $script:S3.Endpoint -ErrorAction Stop).Signed | Should -BeTrue

        # s3rver keeps each object's body as a file: what gpg verifies is exactly what the bucket holds.
        $stored = Join-Path $script:S3.DataDirectory "$($script:S3.Bucket)/signed"
        $copy = New-TestFolder -Prefix 'pgbackup-s3-sig'
        try {
            $manifest = Join-Path $copy 'manifest.json'
            Copy-Item (Join-Path $stored "$($backup.ManifestKey)._S3rver_object") $manifest
            Copy-Item (Join-Path $stored "$($backup.ManifestKey).sig._S3rver_object") "$manifest.sig"
            [IO.File]::ReadAllText("$manifest.sig") | Should -Match '^-----BEGIN PGP SIGNATURE-----'
            $verified = Test-GpgVerify $manifest
            $verified.ExitCode | Should -Be 0 -Because $verified.Status
            $verified.Status | Should -Match $script:Signer.Fingerprint
        }
        finally { Remove-Item $copy -Recurse -Force -ErrorAction SilentlyContinue }

        $result = Test-PgBackup -InputObject $backup -TrustedSigningKey $script:Signer.PublicKeyFile -Level Checksum -ErrorAction Stop
        $result.Checks[0].Name | Should -Be 'Signature'
        $result.Passed | Should -BeTrue
        $null = Restore-PgBackup -InputObject $backup -TargetDatabase sig_from_s3 -TrustedSigningKey $script:Signer.PublicKeyFile @script:Connection -ErrorAction Stop
        Get-RowCounts 'sig_from_s3' | Should -Be (Get-RowCounts 'sig_src')
    }

    It 'refuses an unsigned S3 backup with SignatureInvalid' {
        $unsigned = New-PgBackup -Database sig_src -Repository $script:S3Repository -S3Endpoint $script:S3.Endpoint @script:Connection -ErrorAction Stop
        $null = Assert-RefusedWithoutTouchingTheServer $unsigned 'unsigned in S3 as on disk'
    }
}

Describe 'Signed manifests: the key passphrase reaches no child process and no audit log' {
    BeforeAll {
        $script:Repository = New-TestFolder -Prefix 'pgbackup-signed'
        $script:AuditLog = Join-Path $script:Repository 'audit.jsonl'
    }
    AfterAll { Remove-Item $script:Repository -Recurse -Force -ErrorAction SilentlyContinue }

    It 'is in no child''s argv or environment and in no audit line, when it opens the key and when it does not' {
        $wrongText = 'wrong signing passphrase ' + [guid]::NewGuid().ToString('N')
        $scan = [PgBackup.TestSupport.ChildProcessScan]::Start()
        try {
            $backup = New-PgBackup -Database sig_src -Repository $script:Repository @script:Sign @script:Connection -LogPath $script:AuditLog -ErrorAction Stop
            $null = $backup | Test-PgBackup -Level Restore -TrustedSigningKey $script:Signer.PublicKeyFile @script:Connection -LogPath $script:AuditLog -ErrorAction Stop
            $null = $backup | Restore-PgBackup -TargetDatabase 'sig_scanned_copy' -TrustedSigningKey $script:Signer.PublicKeyFile @script:Connection -LogPath $script:AuditLog -ErrorAction Stop
            { New-PgBackup -Database sig_src -Repository $script:Repository -SigningKey $script:Signer.SecretKeyFile -SigningKeyPassphrase (ConvertTo-SecureString $wrongText -AsPlainText -Force) `
                    @script:Connection -LogPath $script:AuditLog -ErrorAction Stop } | Should -Throw -ErrorId 'DecryptionFailed,*'
        }
        finally {
            $seen = $scan.Stop()
            $scan.Dispose()
        }

        $scan.Rounds | Should -BeGreaterThan 10
        @($seen | ForEach-Object Name) | Should -Contain 'pg_dump'
        foreach ($child in $seen) {
            foreach ($text in @($child.Arguments) + @($child.Environment)) {
                foreach ($secret in $script:KeyPassphraseText, $wrongText) {
                    $text.Contains($secret) | Should -BeFalse -Because "$($child.Name) (pid $($child.Pid)) must not see the signing key passphrase"
                }
            }
        }
        $lines = @(Get-Content -LiteralPath $script:AuditLog)
        $lines.Count | Should -BeGreaterOrEqual 4
        ($lines[-1] | ConvertFrom-Json).errorId | Should -Be 'DecryptionFailed'
        foreach ($secret in $script:KeyPassphraseText, $wrongText) {
            ($lines -join "`n").Contains($secret) | Should -BeFalse -Because 'the audit log must not hold the signing key passphrase'
        }
    }
}

Describe 'Signed manifests: Azure Blob repositories' {
    BeforeAll {
        $script:Azurite = Start-TestAzurite
        $script:Container = [PgBackup.TestSupport.AzuriteServer]::DefaultContainer
        $script:AzureRepository = "$($script:Azurite.ServiceEndpoint)/$($script:Container)/signed"
    }
    AfterAll { Stop-TestAzurite $script:Azurite }

    It 'stores the .sig byte for byte next to the manifest blob, and -TrustedSigningKey passes it' {
        $backup = New-PgBackup -Database sig_src -Repository $script:AzureRepository @script:Sign @script:Connection -ErrorAction Stop
        $backup.Signed | Should -BeTrue
        (Get-PgBackupInfo -Repository $script:AzureRepository -ErrorAction Stop).Signed | Should -BeTrue

        # Read back through Azurite's REST API, not through the module: what gpg verifies is what the container holds.
        $copy = New-TestFolder -Prefix 'pgbackup-azure-sig'
        try {
            $manifest = Join-Path $copy 'manifest.json'
            [IO.File]::WriteAllBytes($manifest, $script:Azurite.GetBlob($script:Container, "signed/$($backup.ManifestKey)"))
            [IO.File]::WriteAllBytes("$manifest.sig", $script:Azurite.GetBlob($script:Container, "signed/$($backup.ManifestKey).sig"))
            $verified = Test-GpgVerify $manifest
            $verified.ExitCode | Should -Be 0 -Because $verified.Status
        }
        finally { Remove-Item $copy -Recurse -Force -ErrorAction SilentlyContinue }

        $result = Test-PgBackup -InputObject $backup -TrustedSigningKey $script:Signer.PublicKeyFile -Level Checksum -ErrorAction Stop
        $result.Checks[0].Name | Should -Be 'Signature'
        $result.Passed | Should -BeTrue
    }
}

Describe 'Signed manifests: a signature that cannot be written' {
    It 'leaves the backup committed: written out with Signed = False, then a non-terminating SignatureWriteFailed' {
        # Room for exactly the repository's date folders, the artifact and the manifest: the .sig is the one file too many.
        $disk = [PgBackup.TestSupport.TmpfsMount]::Create(4, 6)
        try {
            $errors = $null
            $output = @(New-PgBackup -Database sig_src -Repository $disk.Path @script:Sign @script:Connection -ErrorAction SilentlyContinue -ErrorVariable errors)

            $output.Count | Should -Be 1
            $output[0].Status | Should -Be 'Succeeded'
            $output[0].Signed | Should -BeFalse
            @($errors).Count | Should -Be 1
            $errors[0].FullyQualifiedErrorId | Should -Be 'SignatureWriteFailed,PgBackup.Commands.NewPgBackupCommand'
            $errors[0].CategoryInfo.Category | Should -Be 'WriteError'
            $errors[0].TargetObject.Id | Should -Be $output[0].Id
            $errors[0].ErrorDetails.RecommendedAction | Should -Match 'TrustedSigningKey'
            $listed = Get-PgBackupInfo -Repository $disk.Path -ErrorAction Stop
            $listed.Id | Should -Be $output[0].Id
            $listed.Signed | Should -BeFalse
            (Test-PgBackup -InputObject $listed -Level Checksum -ErrorAction Stop).Passed | Should -BeTrue -Because 'the backup itself is committed and sound'
            Test-Path -LiteralPath "$($listed.ManifestLocation).sig" | Should -BeFalse
        }
        finally { $disk.Dispose() }
    }
}
