namespace Wasserflow.Cli;

internal static class Program
{
    public static int Main(string[] args)
    {
        // Ctrl-C once: the run finishes its current step, writes its result ("cancelled") and a checkpoint, and exits 130.
        // Ctrl-C again: the process ends at once (the last checkpoint stays).
        using var cancel = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            if (cancel.IsCancellationRequested) return;
            e.Cancel = true;
            Console.Error.WriteLine("cancelling after the current step (Ctrl-C again to stop at once)…");
            cancel.Cancel();
        };
        return WasserflowCli.Run(args, Console.Out, Console.Error, interactive: !Console.IsErrorRedirected && !Console.IsOutputRedirected, cancel.Token);
    }
}
