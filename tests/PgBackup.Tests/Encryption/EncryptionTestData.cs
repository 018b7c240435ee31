using System.Security.Cryptography;
using PgBackup.Encryption;
using PgBackup.Streaming;

namespace PgBackup.Tests.Encryption;

/// <summary>Plaintexts, passphrases and the encrypt/decrypt round trips the encryption tests share.</summary>
internal static class EncryptionTestData
{
    public const string TestPassphrase = "correct horse battery staple ✓";

    /// <summary>A low S2K count keeps the many round trips fast; gpg reads any count.</summary>
    public const int FastS2kCount = 0x60;

    public static byte[] Random(int size) => RandomNumberGenerator.GetBytes(size);

    public static Passphrase PassphraseOf(string text) => PgBackup.Encryption.Passphrase.FromChars(text);

    /// <summary>Encrypts with WriteAsync in pieces of <paramref name="writeSize"/>, as the pipeline does.</summary>
    public static async Task<byte[]> EncryptAsync(OpenPgpEncryption encryption, byte[] plaintext, int writeSize = 81920)
    {
        var output = new MemoryStream();
        await using (var encrypting = encryption.Encrypt(output, leaveOpen: true))
        {
            for (var offset = 0; offset < plaintext.Length; offset += writeSize)
            {
                await encrypting.WriteAsync(plaintext.AsMemory(offset, Math.Min(writeSize, plaintext.Length - offset)));
            }
        }

        return output.ToArray();
    }

    public static async Task<byte[]> EncryptWithPassphraseAsync(byte[] plaintext, string passphrase = TestPassphrase, int s2kCount = FastS2kCount)
    {
        using var secret = PassphraseOf(passphrase);
        using var encryption = OpenPgpEncryption.ForPassphrase(secret, s2kCount);
        return await EncryptAsync(encryption, plaintext);
    }

    /// <summary>Reads to the end; records whether the end (0) was ever reported, so a test sees no EOF before an error.</summary>
    public static byte[] ReadAll(Stream stream, out bool sawEnd)
    {
        sawEnd = false;
        var result = new MemoryStream();
        var buffer = new byte[50000];
        try
        {
            int read;
            while ((read = stream.Read(buffer)) > 0)
            {
                result.Write(buffer, 0, read);
            }

            sawEnd = true;
            return result.ToArray();
        }
        finally
        {
            stream.Dispose();
        }
    }

    public static byte[] Decrypt(OpenPgpDecryption decryption, byte[] ciphertext)
        => ReadAll(decryption.Decrypt(new MemoryStream(ciphertext)), out _);
}

/// <summary>What a repository's read stream is like: no seeking, no length.</summary>
internal sealed class ForwardOnlyStream(byte[] data) : ForwardOnlyReadStream
{
    private readonly MemoryStream _inner = new(data, writable: false);

    public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);
}
