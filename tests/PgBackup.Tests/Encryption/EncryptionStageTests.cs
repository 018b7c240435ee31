using System.Security;
using PgBackup.Encryption;
using PgBackup.Errors;
using static PgBackup.Tests.Encryption.EncryptionTestData;

namespace PgBackup.Tests.Encryption;

/// <summary>The encrypting and decrypting stages on their own: round trips, integrity, cancellation, memory, secrets.</summary>
public class EncryptionStageTests
{
    [Theory]
    [InlineData(0, 81920)]
    [InlineData(1, 1)]
    [InlineData(EncryptingStream.ChunkSize - 1, 1000)]
    [InlineData(EncryptingStream.ChunkSize, EncryptingStream.ChunkSize)]
    [InlineData(EncryptingStream.ChunkSize + 1, 7)]
    [InlineData(1_000_003, 300_000)]
    public async Task Round_trips_any_size_in_any_write_pieces(int size, int writeSize)
    {
        var plaintext = Random(size);
        using var passphrase = PassphraseOf(TestPassphrase);
        using var encryption = OpenPgpEncryption.ForPassphrase(passphrase, FastS2kCount);
        var ciphertext = await EncryptAsync(encryption, plaintext, writeSize);
        using var decryption = OpenPgpDecryption.ForPassphrase(passphrase);

        Assert.Equal(plaintext, Decrypt(decryption, ciphertext));
        Assert.Equal(new EncryptionInfo("OpenPGP AES-256", [], true).Algorithm, encryption.Info.Algorithm);
        Assert.True(encryption.Info.PassphraseProtected);
        Assert.Empty(encryption.Info.KeyFingerprints);
    }

    [Fact]
    public void Synchronous_writes_and_dispose_give_the_same_kind_of_message()
    {
        var plaintext = Random(200_000);
        using var passphrase = PassphraseOf(TestPassphrase);
        using var encryption = OpenPgpEncryption.ForPassphrase(passphrase, FastS2kCount);
        var output = new MemoryStream();
        using (var encrypting = encryption.Encrypt(output, leaveOpen: true))
        {
            encrypting.Write(plaintext, 0, 100);
            encrypting.WriteByte(plaintext[100]);
            encrypting.Write(plaintext.AsSpan(101));
            encrypting.Flush();
        }

        using var decryption = OpenPgpDecryption.ForPassphrase(passphrase);
        Assert.Equal(plaintext, Decrypt(decryption, output.ToArray()));
    }

    [Fact]
    public async Task The_ciphertext_holds_no_plaintext_and_is_not_compressed()
    {
        var plaintext = new byte[300_000]; // zeros: any compression would shrink it to almost nothing
        Array.Fill(plaintext, (byte)'A');

        var ciphertext = await EncryptWithPassphraseAsync(plaintext);

        Assert.InRange(ciphertext.Length, plaintext.Length, plaintext.Length + 200);
        Assert.Equal(-1, ciphertext.AsSpan().IndexOf(plaintext.AsSpan(0, 32)));
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.1)]
    [InlineData(0.99)]
    [InlineData(-1)] // the last byte: the integrity code itself
    [InlineData(-30)] // just before the MDC packet
    public async Task One_flipped_byte_fails_the_integrity_check_and_the_end_is_never_reported(double where)
    {
        var plaintext = Random(500_000);
        var ciphertext = await EncryptWithPassphraseAsync(plaintext);
        var index = where < 0 ? ciphertext.Length + (int)where : (int)(ciphertext.Length * where);
        ciphertext[index] ^= 0x20;
        using var passphrase = PassphraseOf(TestPassphrase);
        using var decryption = OpenPgpDecryption.ForPassphrase(passphrase);

        var sawEnd = true;
        var error = Assert.Throws<DecryptionFailedException>(() => ReadAll(decryption.Decrypt(new MemoryStream(ciphertext)), out sawEnd));

        Assert.False(sawEnd);
        Assert.Equal("DecryptionFailed", error.ErrorId);
    }

    [Fact]
    public async Task A_tampered_message_says_so_once_the_data_is_read()
    {
        var ciphertext = await EncryptWithPassphraseAsync(Random(500_000));
        ciphertext[ciphertext.Length / 2] ^= 0x01;
        using var passphrase = PassphraseOf(TestPassphrase);
        using var decryption = OpenPgpDecryption.ForPassphrase(passphrase);
        using var plain = decryption.Decrypt(new MemoryStream(ciphertext), target: "shop.dump.gpg");

        var error = Assert.Throws<DecryptionFailedException>(() => plain.CopyTo(Stream.Null));

        Assert.Contains("tampered with or is corrupt", error.Message, StringComparison.Ordinal);
        Assert.Equal("shop.dump.gpg", error.TargetObject);
        // It stays failed: a second read never turns into a clean end.
        Assert.Throws<DecryptionFailedException>(() => plain.ReadByte());
    }

    [Theory]
    [InlineData(100)]
    [InlineData(30)]
    public async Task A_truncated_message_is_DecryptionFailed(int keep)
    {
        var ciphertext = await EncryptWithPassphraseAsync(Random(200_000));
        using var passphrase = PassphraseOf(TestPassphrase);
        using var decryption = OpenPgpDecryption.ForPassphrase(passphrase);
        var truncated = ciphertext[..(ciphertext.Length * keep / 101)];

        var sawEnd = true;
        Assert.Throws<DecryptionFailedException>(() => ReadAll(decryption.Decrypt(new MemoryStream(truncated)), out sawEnd));
        Assert.False(sawEnd);
    }

    [Fact]
    public void Data_that_is_not_OpenPGP_is_DecryptionFailed_at_open()
    {
        using var passphrase = PassphraseOf(TestPassphrase);
        using var decryption = OpenPgpDecryption.ForPassphrase(passphrase);

        Assert.Throws<DecryptionFailedException>(() => decryption.Decrypt(new MemoryStream("PGDMP plain dump"u8.ToArray())));
        Assert.Throws<DecryptionFailedException>(() => decryption.Decrypt(new MemoryStream([])));
    }

    [Fact]
    public async Task A_passphrase_message_without_a_passphrase_is_DecryptionKeyRequired()
    {
        var ciphertext = await EncryptWithPassphraseAsync(Random(10));

        var error = Assert.Throws<DecryptionKeyRequiredException>(() => OpenPgpDecryption.None.Decrypt(new MemoryStream(ciphertext)));

        Assert.Equal("DecryptionKeyRequired", error.ErrorId);
        Assert.Contains("a passphrase", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_canceled_write_throws_and_leaves_no_finished_message()
    {
        using var passphrase = PassphraseOf(TestPassphrase);
        using var encryption = OpenPgpEncryption.ForPassphrase(passphrase, FastS2kCount);
        var output = new MemoryStream();
        var encrypting = encryption.Encrypt(output, leaveOpen: true);
        await encrypting.WriteAsync(Random(300_000));
        using var canceled = new CancellationTokenSource();
        await canceled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => encrypting.WriteAsync(Random(300_000), canceled.Token).AsTask());
        await encrypting.DisposeAsync();

        // No integrity trailer was written: what reached the destination does not decrypt to a clean end.
        using var decryption = OpenPgpDecryption.ForPassphrase(passphrase);
        Assert.Throws<DecryptionFailedException>(() => Decrypt(decryption, output.ToArray()));
    }

    [Fact]
    public async Task Writes_reach_the_destination_as_they_happen_not_at_the_end()
    {
        using var passphrase = PassphraseOf(TestPassphrase);
        using var encryption = OpenPgpEncryption.ForPassphrase(passphrase, FastS2kCount);
        var output = new MemoryStream();
        await using var encrypting = encryption.Encrypt(output, leaveOpen: true);

        await encrypting.WriteAsync(Random(1_000_000));
        await encrypting.FlushAsync();

        // At most one partial-length chunk is held back (OpenPGP cannot end a chunk early).
        Assert.InRange(output.Length, 1_000_000 - EncryptingStream.ChunkSize, 1_000_000);
    }

    [Fact]
    public async Task Disposing_closes_the_destination_unless_asked_to_leave_it_open()
    {
        using var passphrase = PassphraseOf(TestPassphrase);
        using var encryption = OpenPgpEncryption.ForPassphrase(passphrase, FastS2kCount);
        var closed = new MemoryStream();
        var open = new MemoryStream();

        await encryption.Encrypt(closed).DisposeAsync();
        encryption.Encrypt(open, leaveOpen: true).Dispose();

        Assert.False(closed.CanWrite);
        Assert.True(open.CanWrite);
    }

    [Fact]
    public void A_passphrase_is_zeroed_on_dispose_and_never_formatted()
    {
        var secure = new SecureString();
        foreach (var c in "sécret")
        {
            secure.AppendChar(c);
        }

        var passphrase = Passphrase.FromSecureString(secure);
        var bytes = passphrase.Utf8;

        Assert.Equal("sécret"u8.ToArray(), bytes);
        Assert.DoesNotContain("sécret", $"{passphrase}", StringComparison.Ordinal);
        passphrase.Dispose();
        Assert.All(bytes, b => Assert.Equal(0, b));
        Assert.Throws<ObjectDisposedException>(() => passphrase.Utf8);
    }

    [Fact]
    public void The_environment_variable_gives_a_passphrase_only_when_set()
    {
        var variable = "PGBACKUP_TEST_PASSPHRASE_" + Guid.NewGuid().ToString("N")[..6];
        Assert.Null(Passphrase.FromEnvironment(variable));
        Environment.SetEnvironmentVariable(variable, "from env");
        try
        {
            using var passphrase = Passphrase.FromEnvironment(variable);
            Assert.Equal("from env"u8.ToArray(), passphrase!.Utf8);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }

    [Fact]
    public void An_empty_passphrase_or_no_recipient_is_refused()
    {
        using var empty = PassphraseOf(string.Empty);

        Assert.Throws<InvalidBackupRequestException>(() => OpenPgpEncryption.ForPassphrase(empty));
        Assert.Throws<InvalidBackupRequestException>(() => OpenPgpEncryption.ForRecipients([]));
    }
}
