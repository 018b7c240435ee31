using PgBackup.Errors;

namespace PgBackup.Storage.S3;

/// <summary>A parsed <c>s3://bucket/prefix</c>; the prefix has no leading or trailing '/'.</summary>
internal sealed record S3Location(string Bucket, string Prefix)
{
    public const string Scheme = "s3://";

    public static bool IsS3(string location) => location.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase);

    public static S3Location Parse(string location)
    {
        if (!IsS3(location))
        {
            throw new InvalidRepositoryException($"\"{location}\" is not an s3://bucket/prefix location.", location);
        }

        var rest = location[Scheme.Length..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        var bucket = slash < 0 ? rest : rest[..slash];
        var prefix = slash < 0 ? string.Empty : rest[(slash + 1)..].Trim('/');
        if (bucket.Length == 0)
        {
            throw new InvalidRepositoryException($"\"{location}\" names no bucket; use s3://bucket/prefix.", location);
        }

        if (prefix.Split('/').Any(segment => segment is "." or ".."))
        {
            throw new InvalidRepositoryException($"\"{location}\" has '.' or '..' in its prefix, which S3 clients resolve differently.", location);
        }

        return new S3Location(bucket, prefix);
    }

    /// <summary>The repository as users name it: s3://bucket or s3://bucket/prefix.</summary>
    public override string ToString() => Prefix.Length == 0 ? Scheme + Bucket : $"{Scheme}{Bucket}/{Prefix}";

    /// <summary>The object key of a repository-relative key.</summary>
    public string ObjectKey(string key) => Prefix.Length == 0 ? key : Prefix + "/" + key;
}
