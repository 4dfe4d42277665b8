using System.CommandLine;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;
using Wasserflow.Cli;
using Wasserflow.Randomness;

namespace Wasserflow.Tests.Cli;

/// <summary>
/// CLI fuzzing: FsCheck draws a seed per case (replayed from a fixed seed, so every run tries the same cases), and the
/// seed builds an argument list for fit or rovi from the commands' own options, with values that are valid, huge,
/// negative, NaN, empty or of the wrong type, sometimes with a config file of random keys. Whatever comes in: no
/// exception escapes, the exit code is 0, 1, 2 or 130, no stack trace is printed, and exit 2 writes nothing at all.
/// </summary>
public sealed class CliFuzzTests : IDisposable
{
    private const int Cases = 1500;
    private static readonly string[] Values =
    [
        "0", "1", "2", "3", "-1", "-0", "0.5", "1e-320", "1e308", "-1e308", "NaN", "nan", "Infinity", "", " ", "abc", "ten",
        "99999999999999999999", "2147483648", "9223372036854775807", "1000000000", "0x10", "1,5", "gmm", "funnel", "ibw", "bw",
        "logistic", "bimodal", "q40s", "mc", "--", "true", "-5e3",
    ];

    private readonly string _folder = Path.Combine(Path.GetTempPath(), "wf-fuzz-" + Guid.NewGuid().ToString("N"));

    public CliFuzzTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static readonly Dictionary<string, string[]> Flags = WasserflowCli.Root().Subcommands
        .Where(c => c.Name is "fit" or "rovi")
        .ToDictionary(c => c.Name, c => c.Options.Select(o => o.Name).Where(n => n is not ("--help" or "--output" or "--config")).ToArray());

    private string[] Arguments(ulong seed, out string output)
    {
        var rng = new Xoshiro256StarStar(seed);
        string command = rng.NextInt(2) == 0 ? "fit" : "rovi";
        string[] flags = Flags[command];
        // Small runs unless the case overrides them (a repeated flag is itself a case).
        var args = new List<string> { command, "--iterations", "20" };
        if (command == "fit") args.AddRange(["--kl-samples", "20", "--kl-every", "10"]);
        else args.AddRange(["--restarts", "1"]);
        for (int i = 0, n = 1 + rng.NextInt(4); i < n; i++)
        {
            string flag = flags[rng.NextInt(flags.Length)];
            if (rng.NextInt(10) == 0) flag = flag[..^1]; // a misspelt flag
            args.Add(flag);
            if (rng.NextInt(6) != 0) args.Add(Values[rng.NextInt(Values.Length)]);
        }
        if (rng.NextInt(5) == 0)
        {
            string config = Path.Combine(_folder, $"config-{seed}.json");
            string key = rng.NextInt(3) == 0 ? "noSuchKey" : new[] { "dimension", "stepSize", "components", "batch", "target", "skew", "seed" }[rng.NextInt(7)];
            string value = new[] { "3", "-2", "1e400", "\"x\"", "[1, 2]", "null", "{}", "true", "0.1" }[rng.NextInt(9)];
            File.WriteAllText(config, rng.NextInt(8) == 0 ? "{ not json" : $"{{ \"{key}\": {value} }}");
            args.AddRange(["--config", config]);
        }
        output = Path.Combine(_folder, $"out-{seed}");
        args.AddRange(["-o", output]);
        return [.. args];
    }

    private bool Case(ulong seed)
    {
        string[] args = Arguments(seed, out string output);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        int code;
        try
        {
            code = WasserflowCli.Run(args, stdout, stderr, cancellation: cancel.Token);
        }
        catch (Exception ex)
        {
            throw new InvalidOperationException($"unhandled {ex.GetType().Name} for: {string.Join(' ', args)}", ex);
        }
        string err = stderr.ToString();
        string context = $"exit {code} for: {string.Join(' ', args)}\n{err}";
        if (code is not (0 or 1 or 2 or 130)) throw new InvalidOperationException(context);
        if (err.Contains("   at ", StringComparison.Ordinal) || err.Contains("Exception", StringComparison.Ordinal)) throw new InvalidOperationException("stack trace: " + context);
        if (code == 2)
        {
            if (err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Count(l => l.StartsWith("error:", StringComparison.Ordinal)) != 1)
                throw new InvalidOperationException("not one error line: " + context);
            string partial = Path.Combine(_folder, $".out-{seed}.partial");
            if (Directory.Exists(output) || Directory.Exists(partial)) throw new InvalidOperationException("files left behind: " + context);
        }
        return true;
    }

    [Fact]
    public void Generated_argument_lists_and_config_files_never_crash_and_bad_input_writes_nothing()
    {
        var config = Config.QuickThrowOnFailure.WithMaxTest(Cases).WithReplay(FSharpOption<Replay>.Some(new Replay(new Rnd(20261201UL, 11UL), FSharpOption<int>.None)));
        FsCheck.Check.One(config, Prop.ForAll(Gen.Choose(1, int.MaxValue).Select(i => (ulong)i).ToArbitrary(), Case));
    }
}
