using System.Text;
using PgBackup.Encryption;
using PgBackup.Errors;
using static PgBackup.Tests.Encryption.EncryptionTestData;

namespace PgBackup.Tests.Encryption;

/// <summary>
/// OpenPGP interoperability with the real gpg binary, both ways: what PgBackup encrypts and signs, gpg decrypts and
/// verifies; what gpg encrypts and signs, PgBackup decrypts and verifies; failures are typed.
/// </summary>
public sealed class GpgInteropTests(GpgKeysFixture keys) : IClassFixture<GpgKeysFixture>
{
    private GpgHome Gpg => keys.Gpg;

    [Theory]
    [InlineData(0)]
    [InlineData(3 * 1024 * 1024 + 17)]
    public async Task Gpg_decrypts_what_we_encrypt_with_a_passphrase(int size)
    {
        var plaintext = Random(size);
        // gpg's own default S2K count, as backups use it.
        var ciphertext = await EncryptWithPassphraseAsync(plaintext, s2kCount: OpenPgpEncryption.DefaultS2kCount);

        var (decrypted, status) = await GpgDecryptAsync(ciphertext, TestPassphrase);

        Assert.Equal(plaintext, decrypted);
        Assert.Contains("[GNUPG:] DECRYPTION_OKAY", status, StringComparison.Ordinal);
        Assert.Contains("[GNUPG:] GOODMDC", status, StringComparison.Ordinal);
        Assert.Contains("[GNUPG:] DECRYPTION_INFO 2 9", status, StringComparison.Ordinal); // MDC (2), AES-256 (9)
    }

    [Theory]
    [InlineData("alice")]
    [InlineData("bob")]
    public async Task Gpg_decrypts_what_we_encrypt_to_its_public_key(string name)
    {
        var key = keys.Key(name);
        var plaintext = Random(1024 * 1024 + 3);
        using var encryption = OpenPgpEncryption.ForRecipients([key.PublicKeyFile]);

        var (decrypted, status) = await GpgDecryptAsync(await EncryptAsync(encryption, plaintext), GpgHome.KeyPassphrase);

        Assert.Equal(plaintext, decrypted);
        Assert.Contains("[GNUPG:] GOODMDC", status, StringComparison.Ordinal);
        Assert.Equal([key.Fingerprint], encryption.Info.KeyFingerprints);
        Assert.False(encryption.Info.PassphraseProtected);
    }

    [Fact]
    public async Task Several_recipients_each_decrypt_alone()
    {
        var plaintext = Random(200_000);
        using var encryption = OpenPgpEncryption.ForRecipients([keys.Alice.PublicKeyFile, keys.Bob.PublicKeyFile]);
        var ciphertext = await EncryptAsync(encryption, plaintext);

        Assert.Equal([keys.Alice.Fingerprint, keys.Bob.Fingerprint], encryption.Info.KeyFingerprints);
        foreach (var key in new[] { keys.Alice, keys.Bob })
        {
            using var keyPassphrase = PassphraseOf(GpgHome.KeyPassphrase);
            using var decryption = OpenPgpDecryption.ForSecretKey(key.SecretKeyFile, keyPassphrase);
            Assert.Equal(plaintext, Decrypt(decryption, ciphertext));
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2 * 1024 * 1024 + 5)]
    public async Task We_decrypt_what_gpg_encrypts_with_a_passphrase(int size)
    {
        // Text-like data, so gpg's default compression really compresses.
        var plaintext = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("COPY public.orders (id, customer) FROM stdin;\n", size / 46 + 1)))[..size];
        var ciphertext = await GpgEncryptAsync(plaintext, ["--symmetric", "--cipher-algo", "AES256"], TestPassphrase);

        using var passphrase = PassphraseOf(TestPassphrase);
        using var decryption = OpenPgpDecryption.ForPassphrase(passphrase);

        Assert.Equal(plaintext, Decrypt(decryption, ciphertext));
    }

    [Theory]
    [InlineData("AES256", "SHA256")]
    [InlineData("AES128", "SHA1")]
    [InlineData("AES192", "SHA512")]
    [InlineData("AES256", "SHA1")]
    public async Task Gpgs_passphrase_message_read_twice_derives_its_key_once(string cipher, string s2kDigest)
    {
        var plaintext = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("COPY public.orders (id, customer) FROM stdin;\n", 5000)));
        var ciphertext = await GpgEncryptAsync(plaintext, ["--symmetric", "--cipher-algo", cipher, "--s2k-digest-algo", s2kDigest], TestPassphrase);
        using var passphrase = PassphraseOf(TestPassphrase);
        using var decryption = OpenPgpDecryption.ForPassphrase(passphrase);

        decryption.Decrypt(new MemoryStream(ciphertext)).Dispose();

        Assert.Equal(plaintext, Decrypt(decryption, ciphertext));
        Assert.Equal(1, decryption.KeyDerivations);
    }

    [Fact]
    public async Task A_passphrase_message_with_a_cipher_left_to_BouncyCastle_is_read_from_its_first_byte_again()
    {
        // Camellia is not .NET's: the passphrase reader reads the key packets, gives up, and BouncyCastle gets the
        // whole message from its first byte (a forward-only stream, as a repository's).
        var plaintext = Random(100_000);
        var ciphertext = await GpgEncryptAsync(plaintext, ["--symmetric", "--cipher-algo", "CAMELLIA256"], TestPassphrase);
        using var passphrase = PassphraseOf(TestPassphrase);
        using var decryption = OpenPgpDecryption.ForPassphrase(passphrase);

        using var plain = decryption.Decrypt(new ForwardOnlyStream(ciphertext));

        Assert.Equal(plaintext, ReadAll(plain, out var sawEnd));
        Assert.True(sawEnd);
        Assert.Equal(1, decryption.KeyDerivations);
    }

    [Fact]
    public async Task A_flipped_byte_in_gpgs_compressed_message_is_DecryptionFailed_before_any_end()
    {
        var plaintext = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("INSERT INTO t VALUES (1);\n", 40_000)));
        var ciphertext = await GpgEncryptAsync(plaintext, ["--symmetric", "--cipher-algo", "AES256"], TestPassphrase);
        ciphertext[ciphertext.Length / 2] ^= 0x04;
        using var passphrase = PassphraseOf(TestPassphrase);
        using var decryption = OpenPgpDecryption.ForPassphrase(passphrase);

        var sawEnd = true;
        Assert.Throws<DecryptionFailedException>(() => ReadAll(decryption.Decrypt(new MemoryStream(ciphertext)), out sawEnd));
        Assert.False(sawEnd);
    }

    [Theory]
    [InlineData("alice")]
    [InlineData("bob")]
    public async Task We_decrypt_what_gpg_encrypts_to_a_key(string name)
    {
        var key = keys.Key(name);
        var plaintext = Random(700_000);
        var ciphertext = await GpgEncryptAsync(plaintext, ["--trust-model", "always", "--recipient", key.Fingerprint, "--encrypt"]);

        using var keyPassphrase = PassphraseOf(GpgHome.KeyPassphrase);
        using var decryption = OpenPgpDecryption.ForSecretKey(key.SecretKeyFile, keyPassphrase);

        Assert.Equal(plaintext, Decrypt(decryption, ciphertext));
    }

    [Fact]
    public async Task A_wrong_passphrase_is_DecryptionFailed_for_gpg_and_our_messages()
    {
        var ours = await EncryptWithPassphraseAsync(Random(1000));
        var gpgs = await GpgEncryptAsync(Random(1000), ["--symmetric", "--cipher-algo", "AES256"], TestPassphrase);
        using var wrong = PassphraseOf("not the passphrase");
        using var decryption = OpenPgpDecryption.ForPassphrase(wrong);

        foreach (var ciphertext in new[] { ours, gpgs })
        {
            var error = Assert.Throws<DecryptionFailedException>(() => decryption.Decrypt(new MemoryStream(ciphertext)));
            Assert.Equal("DecryptionFailed", error.ErrorId);
            Assert.Contains("wrong passphrase", error.Message, StringComparison.Ordinal);
            Assert.DoesNotContain("not the passphrase", error.Message, StringComparison.Ordinal);
        }

        // And gpg agrees that it is wrong.
        var (_, status) = await GpgDecryptAsync(ours, "not the passphrase", throwOnError: false);
        Assert.DoesNotContain("DECRYPTION_OKAY", status, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_message_for_another_key_is_DecryptionKeyRequired_naming_the_recipient_key()
    {
        using var encryption = OpenPgpEncryption.ForRecipients([keys.Alice.PublicKeyFile]);
        var ciphertext = await EncryptAsync(encryption, Random(1000));
        using var keyPassphrase = PassphraseOf(GpgHome.KeyPassphrase);
        using var mallorys = OpenPgpDecryption.ForSecretKey(keys.Mallory.SecretKeyFile, keyPassphrase);

        var error = Assert.Throws<DecryptionKeyRequiredException>(() => mallorys.Decrypt(new MemoryStream(ciphertext)));

        Assert.Equal("DecryptionKeyRequired", error.ErrorId);
        var aliceEncryptionKeyId = (await Gpg.RunAsync(["--with-colons", "--list-keys", keys.Alice.Fingerprint])).Split('\n').First(l => l.StartsWith("sub:", StringComparison.Ordinal)).Split(':')[4];
        Assert.Contains(aliceEncryptionKeyId, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_message_without_a_key_or_with_only_a_passphrase_is_DecryptionKeyRequired()
    {
        using var encryption = OpenPgpEncryption.ForRecipients([keys.Bob.PublicKeyFile]);
        var ciphertext = await EncryptAsync(encryption, Random(1000));
        using var passphrase = PassphraseOf(TestPassphrase);
        using var byPassphrase = OpenPgpDecryption.ForPassphrase(passphrase);

        Assert.Throws<DecryptionKeyRequiredException>(() => OpenPgpDecryption.None.Decrypt(new MemoryStream(ciphertext)));
        Assert.Throws<DecryptionKeyRequiredException>(() => byPassphrase.Decrypt(new MemoryStream(ciphertext)));
    }

    [Fact]
    public async Task The_right_key_with_a_wrong_key_passphrase_is_DecryptionFailed()
    {
        using var encryption = OpenPgpEncryption.ForRecipients([keys.Alice.PublicKeyFile]);
        var ciphertext = await EncryptAsync(encryption, Random(1000));
        using var wrong = PassphraseOf("wrong key passphrase");
        using var decryption = OpenPgpDecryption.ForSecretKey(keys.Alice.SecretKeyFile, wrong);

        var error = Assert.Throws<DecryptionFailedException>(() => decryption.Decrypt(new MemoryStream(ciphertext)));

        Assert.Contains("wrong passphrase", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong key passphrase", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gpg_verifies_our_detached_signature_and_rejects_it_on_changed_bytes()
    {
        var manifest = Encoding.UTF8.GetBytes("{\"id\":\"shop-20261202T120000Z\",\"sha256\":\"ab12\"}\n");
        using var keyPassphrase = PassphraseOf(GpgHome.KeyPassphrase);
        var signer = ManifestSigner.Load(keys.Alice.SecretKeyFile, keyPassphrase);
        var signature = signer.Sign(manifest);
        var manifestFile = Gpg.FilePath("manifest-" + Guid.NewGuid().ToString("N")[..8] + ".json");
        await File.WriteAllBytesAsync(manifestFile, manifest);
        await File.WriteAllTextAsync(PgBackup.Catalog.BackupNaming.SignatureKeyFor(manifestFile), signature);

        var status = await Gpg.RunAsync(["--status-fd", "1", "--verify", PgBackup.Catalog.BackupNaming.SignatureKeyFor(manifestFile), manifestFile]);

        Assert.Contains("-----BEGIN PGP SIGNATURE-----", signature, StringComparison.Ordinal);
        Assert.Equal(keys.Alice.Fingerprint, signer.KeyFingerprint);
        Assert.Contains("[GNUPG:] GOODSIG", status, StringComparison.Ordinal);
        Assert.Matches($@"\[GNUPG:\] VALIDSIG [0-9A-F]{{40}} .* {keys.Alice.Fingerprint}\n", status);

        await File.WriteAllBytesAsync(manifestFile, [.. manifest, (byte)' ']);
        var tampered = await Gpg.RunAsync(["--status-fd", "1", "--verify", PgBackup.Catalog.BackupNaming.SignatureKeyFor(manifestFile), manifestFile], throwOnError: false);
        Assert.Contains("[GNUPG:] BADSIG", tampered, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("alice", true)]
    [InlineData("bob", false)]
    public async Task We_verify_gpgs_detached_signature_naming_the_key(string name, bool armor)
    {
        var key = keys.Key(name);
        var manifest = Encoding.UTF8.GetBytes("{\"manifest\":\"" + name + "\"}");
        var manifestFile = Gpg.FilePath($"m-{name}-{armor}.json");
        await File.WriteAllBytesAsync(manifestFile, manifest);
        await Gpg.RunAsync([.. armor ? new[] { "--armor" } : [], "--local-user", key.Fingerprint, "--output", manifestFile + ".sig", "--detach-sign", manifestFile], GpgHome.KeyPassphrase);
        var trusted = TrustedSigningKeys.Load([keys.Mallory.PublicKeyFile, key.PublicKeyFile]);

        var signature = await File.ReadAllBytesAsync(manifestFile + ".sig");

        var verified = trusted.Verify(manifest, signature);

        Assert.Equal(key.Fingerprint, verified.KeyFingerprint);
        Assert.True(verified.SignedAt > DateTime.UtcNow.AddMinutes(-10));
        byte[] changedManifest = [.. manifest, (byte)'\n'];
        var changed = Assert.Throws<SignatureInvalidException>(() => trusted.Verify(changedManifest, signature));
        Assert.Equal("SignatureInvalid", changed.ErrorId);
        Assert.Contains("changed after it was signed", changed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_signature_by_a_foreign_key_is_SignatureInvalid_naming_it()
    {
        var manifest = Encoding.UTF8.GetBytes("{}");
        using var keyPassphrase = PassphraseOf(GpgHome.KeyPassphrase);
        var signature = Encoding.ASCII.GetBytes(ManifestSigner.Load(keys.Mallory.SecretKeyFile, keyPassphrase).Sign(manifest));
        var trusted = TrustedSigningKeys.Load([keys.Alice.PublicKeyFile, keys.Bob.PublicKeyFile]);

        var error = Assert.Throws<SignatureInvalidException>(() => trusted.Verify(manifest, signature));

        Assert.Contains("not among the trusted signing keys", error.Message, StringComparison.Ordinal);
        Assert.Contains(keys.Alice.Fingerprint, error.Message, StringComparison.Ordinal);
        // The signature itself is good: gpg, which has mallory's key, accepts it.
        await File.WriteAllBytesAsync(Gpg.FilePath("foreign.json"), manifest);
        await File.WriteAllBytesAsync(Gpg.FilePath("foreign.json.sig"), signature);
        Assert.Contains("[GNUPG:] GOODSIG", await Gpg.RunAsync(["--status-fd", "1", "--verify", Gpg.FilePath("foreign.json.sig"), Gpg.FilePath("foreign.json")]), StringComparison.Ordinal);
    }

    [Fact]
    public void An_unsigned_manifest_or_a_non_signature_is_SignatureInvalid()
    {
        var trusted = TrustedSigningKeys.Load([keys.Alice.PublicKeyFile]);

        Assert.Contains("not signed", Assert.Throws<SignatureInvalidException>(() => trusted.Verify("{}"u8, null)).Message, StringComparison.Ordinal);
        Assert.Throws<SignatureInvalidException>(() => trusted.Verify("{}"u8, "-----BEGIN PGP SIGNATURE-----\n\nnonsense\n-----END PGP SIGNATURE-----\n"u8.ToArray()));
        Assert.Throws<SignatureInvalidException>(() => trusted.Verify("{}"u8, File.ReadAllBytes(keys.Alice.PublicKeyFile)));
    }

    [Fact]
    public void A_wrong_signing_key_passphrase_is_DecryptionFailed_and_a_public_key_is_no_signing_key()
    {
        using var wrong = PassphraseOf("nope");

        Assert.Throws<DecryptionFailedException>(() => ManifestSigner.Load(keys.Alice.SecretKeyFile, wrong));
        Assert.Throws<DecryptionFailedException>(() => ManifestSigner.Load(keys.Alice.SecretKeyFile, null));
        Assert.Equal("KeyFileInvalid", Assert.Throws<KeyFileInvalidException>(() => ManifestSigner.Load(keys.Alice.PublicKeyFile, wrong)).ErrorId);
        Assert.Throws<KeyFileInvalidException>(() => OpenPgpEncryption.ForRecipients([Gpg.FilePath("no-such-key.asc")]));
    }

    private async Task<(byte[] Plaintext, string Status)> GpgDecryptAsync(byte[] ciphertext, string passphrase, bool throwOnError = true)
    {
        var name = Guid.NewGuid().ToString("N")[..8];
        var input = Gpg.FilePath(name + ".gpg");
        var output = Gpg.FilePath(name + ".out");
        await File.WriteAllBytesAsync(input, ciphertext);
        var status = await Gpg.RunAsync(["--status-fd", "1", "--output", output, "--decrypt", input], passphrase, throwOnError);
        var plaintext = File.Exists(output) ? await File.ReadAllBytesAsync(output) : [];
        File.Delete(input);
        File.Delete(output);
        return (plaintext, status);
    }

    private async Task<byte[]> GpgEncryptAsync(byte[] plaintext, string[] how, string? passphrase = null)
    {
        var name = Guid.NewGuid().ToString("N")[..8];
        var input = Gpg.FilePath(name + ".in");
        var output = Gpg.FilePath(name + ".gpg");
        await File.WriteAllBytesAsync(input, plaintext);
        await Gpg.RunAsync([.. how.Where(a => a != "--encrypt" && a != "--symmetric"), "--output", output, how.Contains("--symmetric") ? "--symmetric" : "--encrypt", input], passphrase);
        var ciphertext = await File.ReadAllBytesAsync(output);
        File.Delete(input);
        File.Delete(output);
        return ciphertext;
    }
}
