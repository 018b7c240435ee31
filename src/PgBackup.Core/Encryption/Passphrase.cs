using System.Runtime.InteropServices;
using System.Security;
using System.Security.Cryptography;
using System.Text;

namespace PgBackup.Encryption;

/// <summary>
/// A passphrase as the UTF-8 bytes OpenPGP derives keys from (gpg encodes typed passphrases as UTF-8), in a pinned
/// buffer that <see cref="Dispose"/> zeroes: it is never a string PgBackup keeps, so it cannot leak into a log, an
/// error message or a dump of strings, and the garbage collector never leaves a moved copy behind.
/// </summary>
internal sealed class Passphrase : IDisposable
{
    /// <summary>The environment variable New-PgBackup and Test-/Restore-PgBackup read when no passphrase parameter is given.</summary>
    public const string EnvironmentVariable = "PGBACKUP_ENCRYPTION_PASSPHRASE";

    private readonly byte[] _utf8;
    private bool _disposed;

    private Passphrase(byte[] pinnedUtf8)
    {
        _utf8 = pinnedUtf8;
    }

    /// <summary>Copies the characters (the caller zeroes its own buffer).</summary>
    public static Passphrase FromChars(ReadOnlySpan<char> characters)
    {
        var bytes = GC.AllocateArray<byte>(Encoding.UTF8.GetByteCount(characters), pinned: true);
        Encoding.UTF8.GetBytes(characters, bytes);
        return new Passphrase(bytes);
    }

    /// <summary>Reads the SecureString through an unmanaged copy that is zeroed and freed at once.</summary>
    public static Passphrase FromSecureString(SecureString secure)
    {
        ArgumentNullException.ThrowIfNull(secure);
        var characters = GC.AllocateArray<char>(secure.Length, pinned: true);
        var unmanaged = Marshal.SecureStringToGlobalAllocUnicode(secure);
        try
        {
            Marshal.Copy(unmanaged, characters, 0, characters.Length);
            return FromChars(characters);
        }
        finally
        {
            Marshal.ZeroFreeGlobalAllocUnicode(unmanaged);
            Array.Clear(characters);
        }
    }

    /// <summary>The passphrase in <paramref name="variable"/>, or null when it is unset or empty.</summary>
    public static Passphrase? FromEnvironment(string variable = EnvironmentVariable)
    {
        // The environment hands out a string; it is the process's own copy, not one PgBackup adds.
        var value = Environment.GetEnvironmentVariable(variable);
        return string.IsNullOrEmpty(value) ? null : FromChars(value);
    }

    /// <summary>
    /// The UTF-8 bytes, for BouncyCastle's *Raw methods only. The array is this object's: callers must not keep
    /// or change it, and it is all zeros after <see cref="Dispose"/>.
    /// </summary>
    internal byte[] Utf8
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _utf8;
        }
    }

    public bool IsEmpty => _utf8.Length == 0;

    /// <summary>An independent copy (its own buffer, its own lifetime).</summary>
    public Passphrase Copy()
    {
        var bytes = GC.AllocateArray<byte>(Utf8.Length, pinned: true);
        _utf8.CopyTo(bytes, 0);
        return new Passphrase(bytes);
    }

    public void Dispose()
    {
        CryptographicOperations.ZeroMemory(_utf8);
        _disposed = true;
    }

    /// <summary>Never the secret, whoever formats this object.</summary>
    public override string ToString() => "(passphrase)";
}
