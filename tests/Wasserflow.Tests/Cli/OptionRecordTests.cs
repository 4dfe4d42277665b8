using System.CommandLine;
using System.Text.Json;
using Wasserflow.Cli;
using Wasserflow.Cli.Options;
using Wasserflow.Experiments;
using Wasserflow.Targets;

namespace Wasserflow.Tests.Cli;

public sealed class OptionRecordTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "wasserflow-options-" + Guid.NewGuid().ToString("N"));

    public OptionRecordTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static IEnumerable<Command> AllCommands(Command command) => command.Subcommands.SelectMany(AllCommands).Prepend(command);

    [Fact]
    public void Help_of_every_command_describes_every_option_with_its_default()
    {
        Command root = WasserflowCli.Root();
        var leaves = AllCommands(root).Where(c => c.Subcommands.Count == 0).ToList();
        Assert.True(leaves.Count >= 14, $"only {leaves.Count} commands"); // fit, rovi, demo and 11 experiments
        foreach (Command command in leaves)
        {
            var help = new StringWriter();
            string path = string.Join(" ", PathOf(command));
            root.Parse([.. PathOf(command), "--help"]).Invoke(new InvocationConfiguration { Output = help });
            string text = help.ToString();
            foreach (Option option in command.Options.Where(o => o.Name is not ("--help" or "--version")))
            {
                Assert.False(string.IsNullOrWhiteSpace(option.Description), $"{path} {option.Name} has no description");
                Assert.Contains(option.Name, text);
                if (option.Name != "--config")
                    Assert.True(option.Description!.Contains("(default ", StringComparison.Ordinal), $"{path} {option.Name}: no default in '{option.Description}'");
            }
        }
    }

    private static string[] PathOf(Command command)
    {
        var names = new List<string>();
        for (Command? c = command; c?.Parents.OfType<Command>().FirstOrDefault() is not null; c = c.Parents.OfType<Command>().FirstOrDefault()) names.Insert(0, c.Name);
        return [.. names];
    }

    [Theory]
    [InlineData("fit")]
    [InlineData("rovi")]
    public void Config_keys_and_flags_are_the_same_set(string name)
    {
        Command command = WasserflowCli.Root().Subcommands.Single(c => c.Name == name);
        var flags = command.Options.Select(o => o.Name).Where(f => f is not ("--help" or "--config")).ToHashSet();
        Type settings = name == "fit" ? typeof(FitSettings) : typeof(RoviSettings);
        var options = new CommandOptions(config: true, typeof(TargetParameters), settings, typeof(RunControlSettings));
        var keys = options.Bindings.ToList();
        Assert.Equal(flags.Order(), keys.Select(b => b.Flag).Order());
        // Each key is the flag's property in camelCase, and a config file accepts every one of them (an unknown one is refused).
        foreach (Binding b in keys) Assert.Equal(CommandOptions.FlagOf(char.ToUpperInvariant(b.Key[0]) + b.Key[1..], b.Negated), b.Flag);
        // A config file with every key that applies at the defaults binds each of them (as if given), through the same records.
        var probe = new Command(name);
        options.AddTo(probe);
        var defaults = new object[] { new TargetParameters(), Activator.CreateInstance(settings)!, new RunControlSettings() };
        var applicable = keys.Where(b => defaults.All(r => r.GetType() != b.Parameter.Property.DeclaringType || r is not Wasserflow.Parameters.IApplicability a || a.NotApplicable(b.Parameter.Name) is null)
            && b.Parameter.Default is not null).ToList();
        Assert.True(applicable.Count >= 12, $"{applicable.Count} keys");
        string config = Path.Combine(_folder, name + ".json");
        File.WriteAllText(config, JsonSerializer.Serialize(applicable.ToDictionary(b => b.Key, b => b.Parameter.Default)));
        BoundOptions bound = options.Bind(probe.Parse(["--config", config]));
        foreach (Binding b in applicable) Assert.True(bound.Given(b.Parameter.Name), b.Key);
        File.WriteAllText(config, """{ "no-such-key": 1 }""");
        Assert.Throws<ConfigException>(() => options.Bind(probe.Parse(["--config", config])));
    }

    [Fact]
    public void A_setting_in_a_config_file_gives_the_same_result_as_its_flag()
    {
        string config = Path.Combine(_folder, "c.json");
        File.WriteAllText(config, """{ "target": "gmm", "components": 3, "stepSize": 0.05, "stepControl": false, "targetSeed": 4 }""");
        var a = Run("fit", "--config", config, "--iterations", "30", "-o", Path.Combine(_folder, "a"));
        var b = Run("fit", "--target", "gmm", "-n", "3", "--step-size", "0.05", "--no-step-control", "--target-seed", "4", "--iterations", "30", "-o", Path.Combine(_folder, "b"));
        Assert.True(a.Code == 0, a.Err);
        Assert.True(b.Code == 0, b.Err);
        Assert.Equal(File.ReadAllText(Path.Combine(_folder, "a", "result.json")), File.ReadAllText(Path.Combine(_folder, "b", "result.json")));
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(_folder, "a", "result.json")));
        Assert.False(json.RootElement.GetProperty("config").GetProperty("stepControl").GetBoolean());
        Assert.False(json.RootElement.GetProperty("config").TryGetProperty("funnelVariance", out _)); // the funnel's parameter, not the gmm's
    }

    [Theory]
    [InlineData("--step-size", "0", "--step-size: must be > 0")]
    [InlineData("--kl-every", "0", "--kl-every: must be ≥ 1, got 0")]
    [InlineData("--iterations", "ten", "--iterations: 'ten' is not a whole number")]
    [InlineData("--target", "gmmm", "did you mean 'gmm'?")]
    [InlineData("--skew", "1", "--skew: applies to the sinh-arcsinh target, not to gmm")]
    [InlineData("--stepsize", "1", "did you mean '--step-size'?")]
    public void Bad_flags_are_named_as_typed(string flag, string value, string expected)
    {
        var (code, _, err) = Run("fit", flag, value, "-o", Path.Combine(_folder, "never"));
        Assert.Equal(2, code);
        Assert.Contains(expected, err);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.False(Directory.Exists(Path.Combine(_folder, "never")));
    }

    [Fact]
    public void Bad_config_values_are_named_by_file_and_key()
    {
        string config = Path.Combine(_folder, "bad.json");
        File.WriteAllText(config, """{ "stepSize": -1 }""");
        var (code, _, err) = Run("fit", "--config", config, "-o", Path.Combine(_folder, "never"));
        Assert.Equal(2, code);
        Assert.Contains($"{config}: key 'stepSize': must be > 0", err);
        File.WriteAllText(config, """{ "stepsize": 1 }""");
        Assert.Contains("did you mean 'stepSize'?", Run("fit", "--config", config, "-o", Path.Combine(_folder, "never")).Err);
    }

    private static (int Code, string Out, string Err) Run(params string[] args) => TestSupport.RunCli(args);
}
