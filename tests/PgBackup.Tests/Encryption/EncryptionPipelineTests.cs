using System.Security.Cryptography;
using PgBackup.Artifacts;
using PgBackup.Catalog;
using PgBackup.Encryption;
using PgBackup.Streaming;
using PgBackup.Verification;
using static PgBackup.Tests.Encryption.EncryptionTestData;

namespace PgBackup.Tests.Encryption;

/// <summary>Encryption as a stage of the backup stream and of the read back: naming, hint, checks (issue 13.1, 13.2).</summary>
public class EncryptionPipelineTests
{
    [Fact]
    public async Task Decrypts_from_a_forward_only_stream_as_repositories_deliver_it()
    {
        var plaintext = Random(300_000);
        var ciphertext = await EncryptWithPassphraseAsync(plaintext);
        using var passphrase = PassphraseOf(TestPassphrase);
        using var decryption = OpenPgpDecryption.ForPassphrase(passphrase);

        using var plain = decryption.Decrypt(new ForwardOnlyStream(ciphertext));

        Assert.Equal(plaintext, ReadAll(plain, out var sawEnd));
        Assert.True(sawEnd);
    }

    [Fact]
    public async Task A_restore_opens_the_message_twice_and_derives_the_passphrase_key_once()
    {
        // A restore checks the key before the server is touched (the message's head only), then reads the backup
        // with the same decryption: the slow, deliberately costly S2K must not run twice.
        var plaintext = Random(300_000);
        var ciphertext = await EncryptWithPassphraseAsync(plaintext, s2kCount: OpenPgpEncryption.DefaultS2kCount);
        using var passphrase = PassphraseOf(TestPassphrase);
        using var decryption = OpenPgpDecryption.ForPassphrase(passphrase);

        decryption.Decrypt(new ForwardOnlyStream(ciphertext)).Dispose();
        using var plain = decryption.Decrypt(new ForwardOnlyStream(ciphertext));

        Assert.Equal(plaintext, ReadAll(plain, out var sawEnd));
        Assert.True(sawEnd);
        Assert.Equal(1, decryption.KeyDerivations);
    }

    [Theory]
    [InlineData(BackupCompression.Zstd)]
    [InlineData(BackupCompression.None)]
    public async Task The_pipeline_encrypts_after_compressing_and_hashes_the_stored_bytes(BackupCompression compression)
    {
        var dump = new byte[(3 * DumpPipeline.ChunkSize) + 4321];
        for (var i = 0; i < dump.Length; i++)
        {
            dump[i] = (byte)(i % 251 < 200 ? 'x' : i % 7);
        }

        using var passphrase = PassphraseOf(TestPassphrase);
        using var encryption = OpenPgpEncryption.ForPassphrase(passphrase, FastS2kCount);
        var sink = new MemoryStream();
        var stages = new List<StreamTransform> { DumpPipeline.Compression(compression, null), output => encryption.Encrypt(output, leaveOpen: true) };

        var (sha256, size) = await DumpPipeline.RunAsync((raw, token) => raw.WriteAsync(dump, token).AsTask(), sink, stages, null, (_, ex) => ex, CancellationToken.None);

        var stored = sink.ToArray();
        Assert.Equal(stored.Length, size);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(stored)).ToLowerInvariant(), sha256);
        using var decryption = OpenPgpDecryption.ForPassphrase(passphrase);
        await using var decompressed = CompressionStages.Decompress(decryption.Decrypt(new ForwardOnlyStream(stored)), compression, leaveOpen: false);
        Assert.Equal(dump, ReadAll(decompressed, out _));
        if (compression != BackupCompression.None)
        {
            // Compressed before encryption: ciphertext would not compress.
            Assert.True(stored.Length < dump.Length / 4, $"{stored.Length:N0} of {dump.Length:N0}");
        }
    }

    [Theory]
    [InlineData(BackupFormat.Custom, BackupCompression.Zstd, ".dump.zst.gpg")]
    [InlineData(BackupFormat.Plain, BackupCompression.Gzip, ".sql.gz.gpg")]
    [InlineData(BackupFormat.Directory, BackupCompression.None, ".dir.tar.gpg")]
    public void Encrypted_artifacts_end_in_gpg(BackupFormat format, BackupCompression streamCompression, string extension)
    {
        Assert.Equal(extension, BackupNaming.Extension(format, streamCompression, encrypted: true));
        Assert.Equal(extension[..^4], BackupNaming.Extension(format, streamCompression));
    }

    [Theory]
    [InlineData(BackupFormat.Custom, CompressionStage.Stream, "gpg --decrypt './x.dump.zst.gpg' | zstd -dc | pg_restore --exit-on-error ")]
    [InlineData(BackupFormat.Custom, CompressionStage.PgDump, "gpg --decrypt './x.dump.zst.gpg' | pg_restore --exit-on-error ")]
    [InlineData(BackupFormat.Plain, CompressionStage.Stream, "gpg --decrypt './x.dump.zst.gpg' | zstd -dc | psql -X ")]
    [InlineData(BackupFormat.Directory, CompressionStage.Stream, "gpg --decrypt './x.dump.zst.gpg' | zstd -dc | (mkdir pgbackup-restore && tar -x -C pgbackup-restore) && pg_restore --exit-on-error ")]
    public void The_restore_hint_of_an_encrypted_artifact_starts_with_gpg(BackupFormat format, CompressionStage stage, string start)
    {
        var hint = RestoreHint.For(format, stage, BackupCompression.Zstd, "x.dump.zst.gpg", jobs: 1, encrypted: true);

        Assert.StartsWith(start, hint, StringComparison.Ordinal);
    }

    [Fact]
    public void A_decryption_failure_of_the_read_is_a_failed_check()
    {
        var backup = new BackupInfo { Id = "x", Database = "x", Server = "h:5432", StartedAt = DateTime.UtcNow, ManifestLocation = "m", ManifestKey = "m", Repository = "r", Encrypted = true, SizeBytes = 10, Sha256 = new string('a', 64), CompressionStage = CompressionStage.Stream };
        var read = new StoredReadOutcome(10, new string('a', 64), null, 0) { Decrypted = true, DecryptionFailure = "modification detection code mismatch" };

        var checks = VerificationChecks.Checksum(backup, read).ToList();

        Assert.Contains(checks, c => c is { Name: VerificationChecks.Decryption, Passed: false } && c.Detail.Contains("modification detection", StringComparison.Ordinal));
    }

    [Fact]
    public void Without_a_key_an_encrypted_backup_is_checked_by_its_hash_alone()
    {
        var backup = new BackupInfo { Id = "x", Database = "x", Server = "h:5432", StartedAt = DateTime.UtcNow, ManifestLocation = "m", ManifestKey = "m", Repository = "r", Encrypted = true, SizeBytes = 10, Sha256 = new string('a', 64), CompressionStage = CompressionStage.Stream };
        var read = new StoredReadOutcome(10, new string('a', 64), null, 0);

        var checks = VerificationChecks.Checksum(backup, read).ToList();

        Assert.Equal([VerificationChecks.Size, VerificationChecks.Sha256], checks.Select(c => c.Name));
        Assert.All(checks, c => Assert.True(c.Passed));
    }

    [Theory]
    [InlineData("p", 0x00)]
    [InlineData("a longer passphrase, ü", 0x60)]
    [InlineData("x", 0xFF)]
    public void The_passphrase_key_is_the_S2K_BouncyCastle_and_gpg_derive(string text, int s2kCount)
    {
        using var passphrase = PassphraseOf(text);
        var salt = Random(8);
        var key = new byte[32];

        PassphraseMessage.DeriveKey(passphrase.Utf8, salt, s2kCount, key);

        var s2k = new Org.BouncyCastle.Bcpg.S2k(Org.BouncyCastle.Bcpg.HashAlgorithmTag.Sha256, salt, s2kCount);
        var expected = Org.BouncyCastle.Bcpg.OpenPgp.PgpUtilities.MakeKeyFromPassPhraseRaw(Org.BouncyCastle.Bcpg.SymmetricKeyAlgorithmTag.Aes256, s2k, passphrase.Utf8);
        Assert.Equal(Convert.ToHexString(expected.GetKey()), Convert.ToHexString(key));
    }
}
