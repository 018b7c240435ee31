using System.Text;

namespace PgBackup.Tests.Encryption;

/// <summary>
/// A private gpg home (GNUPGHOME in a fresh 0700 temp folder) driven in batch mode. Passphrases always reach gpg on
/// its standard input (--passphrase-fd 0, loopback pinentry), never in its argv.
/// </summary>
public sealed class GpgHome : IDisposable
{
    public const string KeyPassphrase = "gpg key passphrase ü"; // non-ASCII: both sides must encode UTF-8

    private readonly Dictionary<string, string> _environment;

    public GpgHome()
    {
        if (Executable is null)
        {
            throw new InvalidOperationException("gpg is not installed (Debian package gnupg; .ci/run installs it). The OpenPGP interoperability tests need it"
                + (TestEnvironment.IsCi ? "; CI=true: this is a failure, not a skip." : "."));
        }

        // Short and under /tmp: gpg-agent's socket path must stay under the Unix limit.
        Path = System.IO.Path.Combine("/tmp", "pgb-gpg-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Path);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        _environment = new Dictionary<string, string> { ["GNUPGHOME"] = Path, ["LC_ALL"] = "C" };
    }

    /// <summary>The gpg binary (/usr/bin/gpg on Debian), or null.</summary>
    public static string? Executable => new[] { "/usr/bin/gpg", "/usr/local/bin/gpg" }.FirstOrDefault(File.Exists);

    public string Path { get; }

    public string FilePath(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Runs gpg in batch mode; <paramref name="passphrase"/> goes to its stdin (fd 0). Returns stdout (status lines with --status-fd 1).</summary>
    public Task<string> RunAsync(IEnumerable<string> arguments, string? passphrase = null, bool throwOnError = true)
    {
        var args = new List<string> { "--batch", "--no-tty", "--yes", "--pinentry-mode", "loopback" };
        if (passphrase is not null)
        {
            args.AddRange(["--passphrase-fd", "0"]);
        }

        args.AddRange(arguments);
        return ProcessRunner.RunAsync(Executable!, args, _environment, standardInput: passphrase is null ? null : passphrase + "\n", throwOnError: throwOnError);
    }

    /// <summary>
    /// A new key for <paramref name="userId"/>: a signing primary of <paramref name="algorithm"/> and an encryption
    /// subkey of <paramref name="encryptionAlgorithm"/> (rsa3072/rsa3072 or ed25519/cv25519), protected by <see cref="KeyPassphrase"/>.
    /// Returns its primary fingerprint.
    /// </summary>
    public async Task<string> GenerateKeyAsync(string userId, string algorithm, string encryptionAlgorithm)
    {
        await RunAsync(["--quick-gen-key", userId, algorithm, "sign", "never"], KeyPassphrase);
        var fingerprint = await FingerprintAsync(userId);
        await RunAsync(["--quick-add-key", fingerprint, encryptionAlgorithm, "encr", "never"], KeyPassphrase);
        return fingerprint;
    }

    public async Task<string> FingerprintAsync(string userId)
    {
        var listing = await RunAsync(["--with-colons", "--list-keys", userId]);
        return listing.Split('\n').First(l => l.StartsWith("fpr:", StringComparison.Ordinal)).Split(':')[9];
    }

    public async Task<string> ExportPublicAsync(string fingerprint, bool armor, string fileName)
    {
        var path = FilePath(fileName);
        await RunAsync([.. armor ? new[] { "--armor" } : [], "--output", path, "--export", fingerprint]);
        return path;
    }

    public async Task<string> ExportSecretAsync(string fingerprint, bool armor, string fileName)
    {
        var path = FilePath(fileName);
        await RunAsync([.. armor ? new[] { "--armor" } : [], "--output", path, "--export-secret-keys", fingerprint], KeyPassphrase);
        return path;
    }

    public async Task ImportAsync(string keyFile) => await RunAsync(["--import", keyFile], KeyPassphrase);

    public void Dispose()
    {
        try
        {
            ProcessRunner.RunAsync("gpgconf", ["--kill", "all"], _environment, throwOnError: false).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // No gpgconf: the agent exits on its own when its home disappears.
        }

        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}

/// <summary>
/// Three gpg-made keys shared by the interop tests (key generation is slow): alice (ed25519 + cv25519) and bob
/// (rsa3072 + rsa3072) are ours, mallory (ed25519 + cv25519) is foreign. Exported public and secret key files sit in
/// the gpg home, armored for alice and mallory and binary for bob, so both encodings are read.
/// </summary>
public sealed class GpgKeysFixture : IAsyncLifetime
{
    public GpgHome Gpg { get; private set; } = null!;

    public GpgKey Alice { get; private set; } = null!;

    public GpgKey Bob { get; private set; } = null!;

    public GpgKey Mallory { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Gpg = new GpgHome();
        Alice = await CreateAsync("alice", "ed25519", "cv25519", armor: true);
        Bob = await CreateAsync("bob", "rsa3072", "rsa3072", armor: false);
        Mallory = await CreateAsync("mallory", "ed25519", "cv25519", armor: true);
    }

    public GpgKey Key(string name) => name switch { "alice" => Alice, "bob" => Bob, _ => Mallory };

    public Task DisposeAsync()
    {
        Gpg?.Dispose();
        return Task.CompletedTask;
    }

    private async Task<GpgKey> CreateAsync(string name, string algorithm, string encryptionAlgorithm, bool armor)
    {
        var userId = $"{name} <{name}@pgbackup.test>";
        var fingerprint = await Gpg.GenerateKeyAsync(userId, algorithm, encryptionAlgorithm);
        var extension = armor ? "asc" : "gpg";
        return new GpgKey(
            fingerprint,
            await Gpg.ExportPublicAsync(fingerprint, armor, $"{name}.pub.{extension}"),
            await Gpg.ExportSecretAsync(fingerprint, armor, $"{name}.sec.{extension}"));
    }
}

public sealed record GpgKey(string Fingerprint, string PublicKeyFile, string SecretKeyFile);
