using System.Buffers;
using System.Text;
using PgBackup.Connection;
using PgBackup.Diagnostics;

namespace PgBackup.PgTools;

/// <summary>The end of a pg_restore/psql run.</summary>
internal sealed record PgRunOutcome(int ExitCode, string StandardOutput, string StandardError)
{
    public bool Succeeded => ExitCode == 0;
}

/// <summary>
/// Runs pg_restore or psql with an archive streamed into its stdin (or from a file), collecting
/// stdout (the TOC, for --list) and stderr. If the tool stops reading early (an error), the input
/// pump stops quietly and the tool's own message is what gets reported. A failure of the input
/// stream itself (say, a checksum mismatch at its end) is rethrown after the tool is stopped.
/// </summary>
internal static class PgRestoreRunner
{
    private const int CopyBufferSize = 1 << 20;

    public static async Task<PgRunOutcome> RunAsync(
        PgTool tool,
        IReadOnlyList<string> arguments,
        PgConnectionSettings? connection,
        Stream? input,
        SecretRedactor redactor,
        CancellationToken cancellationToken,
        IProgress<long>? bytesFed = null)
    {
        await using var process = PgProcess.Start(tool, arguments, connection, redirectInput: input is not null);
        using var killOnCancel = cancellationToken.Register(process.Kill);
        var stdout = ReadAllAsync(process.StandardOutput);

        Exception? inputFailure = null;
        if (input is not null)
        {
            inputFailure = await PumpAsync(input, process, bytesFed, cancellationToken).ConfigureAwait(false);
        }

        var exitCode = await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        var output = await stdout.ConfigureAwait(false);
        var stderr = redactor.Redact(await process.StandardErrorTail.ConfigureAwait(false));
        cancellationToken.ThrowIfCancellationRequested();
        if (inputFailure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(inputFailure).Throw();
        }

        return new PgRunOutcome(exitCode, output, stderr);
    }

    private static async Task<Exception?> PumpAsync(Stream input, PgProcess process, IProgress<long>? bytesFed, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        long fed = 0;
        try
        {
            var sink = process.StandardInput;
            while (true)
            {
                int read;
                try
                {
                    read = await input.ReadAsync(buffer.AsMemory(0, CopyBufferSize), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The source failed (corrupt, truncated, unreachable): the tool must not see a clean end.
                    process.Kill();
                    return ex;
                }

                if (read == 0)
                {
                    break;
                }

                try
                {
                    await sink.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                }
                catch (IOException)
                {
                    // The tool closed its stdin (it failed or finished early): its exit code and stderr tell why.
                    return null;
                }

                fed += read;
                bytesFed?.Report(fed);
            }

            try
            {
                sink.Close();
            }
            catch (IOException)
            {
            }

            return null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task<string> ReadAllAsync(Stream stream)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadToEndAsync().ConfigureAwait(false);
    }
}
