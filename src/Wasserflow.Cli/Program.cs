namespace Wasserflow.Cli;

internal static class Program
{
    public static int Main(string[] args) =>
        WasserflowCli.Run(args, Console.Out, Console.Error, interactive: !Console.IsErrorRedirected && !Console.IsOutputRedirected);
}
