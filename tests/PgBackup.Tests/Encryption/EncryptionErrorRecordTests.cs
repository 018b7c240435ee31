using System.Management.Automation;
using PgBackup.Encryption;
using PgBackup.Errors;

namespace PgBackup.Tests.Encryption;

/// <summary>The encryption failures reach PowerShell under their stable ErrorIds, each with a known fix.</summary>
public class EncryptionErrorRecordTests
{
    [Theory]
    [InlineData("DecryptionFailed", ErrorCategory.InvalidData)]
    [InlineData("DecryptionKeyRequired", ErrorCategory.InvalidArgument)]
    [InlineData("SignatureInvalid", ErrorCategory.InvalidData)]
    [InlineData("KeyFileInvalid", ErrorCategory.InvalidArgument)]
    public void Maps_to_its_ErrorId_category_and_a_recommended_action(string errorId, ErrorCategory category)
    {
        PgBackupException exception = errorId switch
        {
            "DecryptionFailed" => new DecryptionFailedException("m"),
            "DecryptionKeyRequired" => new DecryptionKeyRequiredException("m"),
            "SignatureInvalid" => new SignatureInvalidException("m"),
            _ => new KeyFileInvalidException("m"),
        };

        var record = ErrorRecords.From(exception);

        Assert.Equal(errorId, record.FullyQualifiedErrorId);
        Assert.Equal(category, record.CategoryInfo.Category);
        Assert.False(string.IsNullOrWhiteSpace(record.ErrorDetails?.RecommendedAction));
        Assert.Equal("m", record.ErrorDetails!.Message);
    }

    [Theory]
    [InlineData("shop.dump.zst.gpg", "gpg --output shop.dump.zst --decrypt shop.dump.zst.gpg")]
    [InlineData("globals.sql.gpg", "gpg --output globals.sql --decrypt globals.sql.gpg")]
    public void The_restore_hint_decrypts_to_the_unencrypted_name(string artifact, string command)
        => Assert.Equal(command, OpenPgpEncryption.GpgDecryptCommand(artifact));
}
