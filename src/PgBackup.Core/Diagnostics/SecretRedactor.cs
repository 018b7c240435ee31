namespace PgBackup.Diagnostics;

/// <summary>
/// Last line of defence: text that leaves the process (errors, logs, manifests) passes through
/// here so that a password echoed by a child tool or a library never reaches the user's logs.
/// </summary>
internal sealed class SecretRedactor
{
    public const string Mask = "********";

    private readonly string[] _secrets;

    public SecretRedactor(IEnumerable<string?> secrets)
    {
        // Longest first, so a secret that contains another is masked whole.
        _secrets = secrets.Where(s => !string.IsNullOrEmpty(s)).Select(s => s!).Distinct().OrderByDescending(s => s.Length).ToArray();
    }

    public static SecretRedactor None { get; } = new(Array.Empty<string>());

    public string Redact(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? string.Empty;
        }

        foreach (var secret in _secrets)
        {
            text = text.Replace(secret, Mask, StringComparison.Ordinal);
            var encoded = Uri.EscapeDataString(secret);
            if (encoded != secret)
            {
                text = text.Replace(encoded, Mask, StringComparison.Ordinal);
            }
        }

        return text;
    }
}
