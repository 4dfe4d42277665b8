using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Wasserflow.Cli.Options;
using YamlDotNet.RepresentationModel;

namespace Wasserflow.Sweeps;

/// <summary>One run of a sweep: its stable id, its options (fixed and crossed, sorted by name) and the command line that runs it.</summary>
/// <param name="Id">12 hex digits of SHA-256 over the command and its sorted options: the same run always gets the same id.</param>
/// <param name="Options">Option name (without dashes) and value, sorted by name.</param>
/// <param name="Folder">The run's output folder (the sweep's output root / id).</param>
/// <param name="Args">The command line without the sweep's own --resume / --overwrite.</param>
public sealed record SweepRun(string Id, IReadOnlyList<KeyValuePair<string, string>> Options, string Folder, string[] Args);

/// <summary>
/// A sweep file (YAML or JSON): a command with fixed options, lists to cross, and an output root.
/// <code>
/// command: fit                 # or "experiment gm-components", "sample", …
/// output: runs/seeds           # every run writes output/&lt;id&gt;, exactly as the command alone would
/// options: { target: gmm, dimension: 2, iterations: 2000 }
/// cross: { seed: [0, 1, 2], components: [5, 10, 20] }
/// </code>
/// </summary>
/// <param name="Command">The command words, e.g. ["fit"] or ["experiment", "gm-components"].</param>
/// <param name="Output">The output root (relative paths are relative to the sweep file's folder).</param>
/// <param name="Runs">The expanded runs, crossed in the order the file lists the lists (the last varies fastest).</param>
public sealed record SweepPlan(IReadOnlyList<string> Command, string Output, IReadOnlyList<SweepRun> Runs)
{
    private static readonly string[] Keys = ["command", "output", "options", "cross"];
    private static readonly string[] Reserved = ["output", "o", "overwrite", "resume", "config"];

    /// <summary>Reads and expands a sweep file.</summary>
    /// <exception cref="ConfigException">The file is missing, not YAML/JSON, or a key or value is wrong (the message names it and the file).</exception>
    public static SweepPlan Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path)) throw new ConfigException($"sweep file '{path}' does not exist");
        var stream = new YamlStream();
        try
        {
            using var reader = new StreamReader(path);
            stream.Load(reader);
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            throw new ConfigException($"{path}: not a YAML or JSON sweep file (line {e.Start.Line}: {e.Message})");
        }
        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new ConfigException($"{path}: a sweep file is one mapping with the keys {string.Join(", ", Keys)}");
        string folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        return Parse(root, path, folder);
    }

    /// <summary>Expands a parsed sweep; <paramref name="source"/> names it in messages, <paramref name="baseFolder"/> anchors a relative output.</summary>
    public static SweepPlan Parse(YamlMappingNode root, string source, string baseFolder)
    {
        ArgumentNullException.ThrowIfNull(root);
        string? command = null, output = null;
        var fixedOptions = new List<KeyValuePair<string, string>>();
        var crossed = new List<(string Name, List<string> Values)>();
        foreach (var (keyNode, value) in root.Children)
        {
            string key = Scalar(keyNode, source, "a key");
            switch (key)
            {
                case "command":
                    command = Scalar(value, source, "command");
                    break;
                case "output":
                    output = Scalar(value, source, "output");
                    break;
                case "options":
                    foreach (var (k, v) in Mapping(value, source, "options"))
                        fixedOptions.Add(new(OptionName(Scalar(k, source, "an option name"), source), Scalar(v, source, $"options.{k}")));
                    break;
                case "cross":
                    foreach (var (k, v) in Mapping(value, source, "cross"))
                    {
                        string name = OptionName(Scalar(k, source, "a cross name"), source);
                        if (v is not YamlSequenceNode list || list.Children.Count == 0)
                            throw new ConfigException($"{source}: cross.{name} must be a non-empty list, such as [0, 1, 2]");
                        var values = list.Children.Select((item, i) => Scalar(item, source, $"cross.{name}[{i}]")).ToList();
                        if (values.Distinct(StringComparer.Ordinal).Count() != values.Count) throw new ConfigException($"{source}: cross.{name} lists a value twice");
                        crossed.Add((name, values));
                    }
                    break;
                default:
                    throw new ConfigException($"{source}: unknown key '{key}'; a sweep file has {string.Join(", ", Keys)}");
            }
        }
        if (string.IsNullOrWhiteSpace(command)) throw new ConfigException($"{source}: 'command' is missing (e.g. command: fit)");
        if (string.IsNullOrWhiteSpace(output)) throw new ConfigException($"{source}: 'output' is missing (the root folder of the runs)");
        var names = fixedOptions.Select(o => o.Key).Concat(crossed.Select(c => c.Name)).ToList();
        if (names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new ConfigException($"{source}: option '{twice.Key}' is given twice (in options and cross, or twice in one)");
        string[] words = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string root0 = Path.GetFullPath(Path.Combine(baseFolder, output));

        var runs = new List<SweepRun>();
        var combination = new int[crossed.Count];
        while (true)
        {
            var options = fixedOptions.Concat(crossed.Select((c, i) => new KeyValuePair<string, string>(c.Name, c.Values[combination[i]])))
                .OrderBy(o => o.Key, StringComparer.Ordinal).ToList();
            string id = Id(words, options);
            string folder = Path.Combine(root0, id);
            runs.Add(new SweepRun(id, options, folder, [.. words, .. options.SelectMany(o => new[] { "--" + o.Key, o.Value }), "-o", folder]));
            int k = crossed.Count - 1;
            while (k >= 0 && ++combination[k] == crossed[k].Values.Count) combination[k--] = 0;
            if (k < 0) break;
        }
        return new SweepPlan(words, root0, runs);
    }

    /// <summary>The run's id: 12 hex digits of SHA-256 over "command\n--name value\n…" with the options sorted by name.</summary>
    public static string Id(IReadOnlyList<string> command, IReadOnlyList<KeyValuePair<string, string>> sortedOptions)
    {
        var text = new StringBuilder(string.Join(' ', command));
        foreach (var (k, v) in sortedOptions) text.Append(CultureInfo.InvariantCulture, $"\n--{k} {v}");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())))[..12];
    }

    private static string OptionName(string name, string source)
    {
        string bare = name.TrimStart('-');
        if (Reserved.Contains(bare)) throw new ConfigException($"{source}: option '{bare}' is the sweep's own (each run writes output/<id>, resumes its own checkpoints)");
        if (bare.Length == 0 || bare.Any(c => !(char.IsAsciiLetterOrDigit(c) || c == '-'))) throw new ConfigException($"{source}: '{name}' is not an option name");
        return bare;
    }

    private static string Scalar(YamlNode node, string source, string what) =>
        node is YamlScalarNode { Value: { } v } ? v : throw new ConfigException($"{source}: {what} must be a single value, not a list or mapping (line {node.Start.Line})");

    private static IEnumerable<KeyValuePair<YamlNode, YamlNode>> Mapping(YamlNode node, string source, string what) =>
        node is YamlMappingNode m ? m.Children : throw new ConfigException($"{source}: '{what}' must be a mapping of option names to values (line {node.Start.Line})");
}
