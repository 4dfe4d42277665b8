using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.Json;
using Wasserflow.Parameters;

namespace Wasserflow.Cli.Options;

/// <summary>One described setting bound to a command-line option and a config key.</summary>
/// <param name="Parameter">The record's property, description, range and default.</param>
/// <param name="Option">The option on the command line.</param>
/// <param name="Key">The key in a config file (the property's name in camelCase).</param>
public sealed record Binding(ParameterInfo Parameter, Option Option, string Key)
{
    /// <summary>The flag, as "--step-size".</summary>
    public string Flag => Option.Name;

    /// <summary>A boolean whose default is true is switched off by "--no-x".</summary>
    public bool Negated => IsNegated(Parameter);

    /// <summary>Whether <paramref name="p"/> is a boolean that defaults to true (its flag is "--no-x").</summary>
    public static bool IsNegated(ParameterInfo p) => p?.Type == typeof(bool) && p.Default is true;
}

/// <summary>The records a command bound, and how the user named each setting they gave (a flag, or a key in a file).</summary>
public sealed class BoundOptions
{
    private readonly Dictionary<Type, object> _records = [];
    private readonly Dictionary<string, string> _given = [];

    /// <summary>The bound record of type <typeparamref name="T"/>.</summary>
    public T Get<T>() where T : class => (T)_records[typeof(T)];

    /// <summary>Whether the user gave <paramref name="property"/> (on the command line or in the config file).</summary>
    public bool Given(string property) => _given.ContainsKey(property);

    internal void Set(Type type, object record) => _records[type] = record;

    internal object Record(Type type) => _records[type];

    internal void Give(string property, string name) => _given[property] = name;

    internal string? NameOf(string property) => _given.GetValueOrDefault(property);
}

/// <summary>
/// Derives a command's options from its options records (each setting described once by a <see cref="ParameterAttribute"/>):
/// the flags (kebab-case of the property; "--no-x" for a boolean that defaults to true), the config file's keys
/// (camelCase), the help text with each default, the parsing of values with one clear message each, the range checks,
/// and the check that a given setting applies. Errors name the flag on the command line and the key in a file.
/// </summary>
public sealed class CommandOptions
{
    private readonly List<(Type Type, IReadOnlyList<Binding> Bindings)> _records = [];
    private readonly Option<string?>? _config;

    /// <summary>Options from the records of <paramref name="recordTypes"/> (in order), with a --config file when <paramref name="config"/>.</summary>
    /// <exception cref="InvalidOperationException">Two records describe the same setting name (a programming error).</exception>
    public CommandOptions(bool config, params Type[] recordTypes)
    {
        ArgumentNullException.ThrowIfNull(recordTypes);
        if (config) _config = new Option<string?>("--config") { Description = "JSON file with any of the settings below (camelCase keys: --step-size is \"stepSize\"); flags override it", HelpName = "file" };
        var names = new HashSet<string>();
        foreach (Type type in recordTypes)
        {
            var bindings = ParameterRecords.Describe(type).Select(Bind).ToList();
            foreach (var b in bindings)
                if (!names.Add(b.Parameter.Name)) throw new InvalidOperationException($"{type.Name}.{b.Parameter.Name} is described twice on one command");
            _records.Add((type, bindings));
        }
    }

    /// <summary>Every binding, in the order help lists them.</summary>
    public IEnumerable<Binding> Bindings => _records.SelectMany(r => r.Bindings);

    /// <summary>The config-file option, or null.</summary>
    public Option<string?>? ConfigOption => _config;

    /// <summary>Adds the options to <paramref name="command"/>.</summary>
    public void AddTo(Command command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (_config is not null) command.Options.Add(_config);
        foreach (Binding b in Bindings) command.Options.Add(b.Option);
    }

    /// <summary>
    /// Binds every record: defaults, then the config file's keys, then the flags; then normalises named choices, checks
    /// ranges and that each given setting applies.
    /// </summary>
    /// <exception cref="ConfigException">A value cannot be read, is out of range, or does not apply; the message names it as the user wrote it.</exception>
    public BoundOptions Bind(ParseResult parse)
    {
        ArgumentNullException.ThrowIfNull(parse);
        var bound = new BoundOptions();
        // Defaults are shared per type (ParameterRecords.Describe reads them once): lists are copied so no record aliases them.
        var values = _records.ToDictionary(r => r.Type, r => r.Bindings.ToDictionary(b => b.Parameter.Name, b => b.Parameter.Default is double[] list ? list.Clone() : b.Parameter.Default));
        if (_config is not null && parse.GetValue(_config) is { } path) ReadConfig(path, values, bound);
        foreach (var (type, bindings) in _records)
            foreach (Binding b in bindings)
                if (parse.GetResult(b.Option) is { Implicit: false } result)
                {
                    values[type][b.Parameter.Name] = FromCommandLine(b, parse, result);
                    bound.Give(b.Parameter.Name, b.Flag);
                }
        foreach (var (type, bindings) in _records)
        {
            object record = Activator.CreateInstance(type)!;
            foreach (Binding b in bindings)
            {
                object? value = Normalise(b.Parameter, values[type][b.Parameter.Name]);
                try { ParameterRecords.Check(b.Parameter, value); }
                catch (InvalidParameterException ex) { throw new ConfigException($"{bound.NameOf(b.Parameter.Name) ?? b.Flag}: {ex.Reason}"); }
                b.Parameter.Property.SetValue(record, value);
            }
            bound.Set(type, record);
        }
        CheckApplicable(bound);
        return bound;
    }

    /// <summary>The message of <paramref name="ex"/> with its parameter named as the user wrote it (a flag, or a file's key).</summary>
    public static string Describe(InvalidParameterException ex, BoundOptions? bound, CommandOptions? options)
    {
        ArgumentNullException.ThrowIfNull(ex);
        string property = ex.ParamName ?? "";
        string? name = bound?.NameOf(property) ?? options?.Bindings.FirstOrDefault(b => b.Parameter.Name == property)?.Flag;
        return name is null ? ex.Message : $"{name}: {ex.Reason}";
    }

    /// <summary>The recorded settings of <paramref name="record"/> that apply, as a JSON object's members (for result files).</summary>
    public static void WriteRecorded(Utf8JsonWriter w, object record)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(record);
        foreach (ParameterInfo p in ParameterRecords.Describe(record.GetType()))
        {
            if (!p.Attribute.Recorded || (record is IApplicability a && a.NotApplicable(p.Name) is not null)) continue;
            string key = KeyOf(p.Name);
            switch (p.Property.GetValue(record))
            {
                case null: break;
                case int v: w.WriteNumber(key, v); break;
                case long v: w.WriteNumber(key, v); break;
                case ulong v: w.WriteNumber(key, v); break;
                case double v: w.WriteNumber(key, v); break;
                case bool v: w.WriteBoolean(key, v); break;
                case string v: w.WriteString(key, v); break;
                case double[] v:
                    w.WriteStartArray(key);
                    foreach (double x in v) w.WriteNumberValue(x);
                    w.WriteEndArray();
                    break;
                case var other: throw new NotSupportedException($"{p.Name}: cannot record a {other.GetType().Name}");
            }
        }
    }

    /// <summary>The config key of a property: its name in camelCase.</summary>
    public static string KeyOf(string property) => char.ToLowerInvariant(property[0]) + property[1..];

    /// <summary>The flag of a property: "--" and its name in kebab-case ("--no-" for a boolean that defaults to true).</summary>
    public static string FlagOf(string property, bool negated = false) =>
        (negated ? "--no-" : "--") + string.Concat(property.Select((c, i) => char.IsUpper(c) && i > 0 ? "-" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    private static Binding Bind(ParameterInfo p)
    {
        bool negated = Binding.IsNegated(p);
        string flag = FlagOf(p.Name, negated);
        string[] aliases = p.Attribute.Alias is { } alias ? [alias] : [];
        Type core = Nullable.GetUnderlyingType(p.Type) ?? p.Type;
        Option option = core == typeof(bool) ? new Option<bool>(flag, aliases)
            : core.IsArray ? new Option<string[]>(flag, aliases) { AllowMultipleArgumentsPerToken = true, HelpName = "numbers" }
            : new Option<string>(flag, aliases) { HelpName = HelpName(core, p) };
        option.Description = HelpText(p, negated);
        return new Binding(p, option, KeyOf(p.Name));
    }

    private static string HelpName(Type type, ParameterInfo p) =>
        p.Choices is not null ? "name" : type == typeof(double) ? "number" : type == typeof(string) ? "text" : "integer";

    private static string HelpText(ParameterInfo p, bool negated)
    {
        string text = negated ? $"switch off: {p.Attribute.Description}" : p.Attribute.Description;
        if (p.Choices is { } choices) text += ": " + string.Join("; ", choices.Select(c => $"{c.Name} ({c.Description})"));
        string shown = p.Attribute.DefaultText ?? p.Default switch
        {
            null => "none",
            bool b => negated ? "on" : b ? "on" : "off",
            double[] v => string.Join(" ", v.Select(x => x.ToString(CultureInfo.InvariantCulture))),
            IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
            var v => v.ToString() ?? "none",
        };
        return $"{text} (default {shown})";
    }

    private static object? Normalise(ParameterInfo p, object? value) =>
        value is string text && p.Choices is { } choices
            ? choices.FirstOrDefault(c => string.Equals(c.Name, text, StringComparison.OrdinalIgnoreCase)).Name ?? text
            : value;

    private static object? FromCommandLine(Binding b, ParseResult parse, OptionResult result)
    {
        Type core = Nullable.GetUnderlyingType(b.Parameter.Type) ?? b.Parameter.Type;
        if (core == typeof(bool)) return parse.GetValue((Option<bool>)b.Option) ^ b.Negated;
        if (core.IsArray)
        {
            string[] tokens = parse.GetValue((Option<string[]>)b.Option) ?? [];
            if (tokens.Length == 0) throw new ConfigException($"{b.Flag}: needs at least one number");
            return tokens.Select(t => (double)Convert(b.Flag, t, typeof(double))).ToArray();
        }
        return Convert(b.Flag, parse.GetValue((Option<string>)b.Option) ?? "", core);
    }

    private static object Convert(string name, string text, Type type)
    {
        var style = NumberStyles.Integer;
        CultureInfo c = CultureInfo.InvariantCulture;
        object? value = type switch
        {
            _ when type == typeof(string) => text,
            _ when type == typeof(int) => int.TryParse(text, style, c, out int i) ? i : null,
            _ when type == typeof(long) => long.TryParse(text, style, c, out long l) ? l : null,
            _ when type == typeof(ulong) => ulong.TryParse(text, style, c, out ulong u) ? u : null,
            _ when type == typeof(double) => double.TryParse(text, NumberStyles.Float, c, out double d) ? d : null,
            _ => throw new NotSupportedException($"{name}: settings of type {type.Name} are not supported"),
        };
        return value ?? throw new ConfigException($"{name}: '{text}' is not {Expected(type)}");
    }

    private static string Expected(Type type) =>
        type == typeof(double) ? "a number" : type == typeof(ulong) ? "a whole number ≥ 0" : type == typeof(bool) ? "true or false" : type.IsArray ? "a list of numbers" : "a whole number";

    private void ReadConfig(string path, Dictionary<Type, Dictionary<string, object?>> values, BoundOptions bound)
    {
        using JsonDocument doc = ConfigFile.Read(path);
        var byKey = _records.SelectMany(r => r.Bindings.Select(b => (r.Type, Binding: b))).ToDictionary(x => x.Binding.Key, StringComparer.Ordinal);
        foreach (JsonProperty p in doc.RootElement.EnumerateObject())
        {
            if (!byKey.TryGetValue(p.Name, out var entry))
            {
                string? near = ParameterRecords.Closest(p.Name, byKey.Keys);
                throw new ConfigException($"{path}: unknown config key '{p.Name}'{(near is null ? "" : $" (did you mean '{near}'?)")}; known keys: {string.Join(", ", byKey.Keys)}");
            }
            string name = $"{path}: key '{p.Name}'";
            values[entry.Type][entry.Binding.Parameter.Name] = FromJson(name, p.Value, entry.Binding.Parameter.Type);
            bound.Give(entry.Binding.Parameter.Name, name);
        }
    }

    private static object? FromJson(string name, JsonElement v, Type type)
    {
        Type core = Nullable.GetUnderlyingType(type) ?? type;
        if (v.ValueKind == JsonValueKind.Null && (!type.IsValueType || core != type)) return null;
        try
        {
            return core switch
            {
                _ when core == typeof(bool) => v.GetBoolean(),
                _ when core == typeof(string) => v.GetString(),
                _ when core == typeof(double[]) => v.EnumerateArray().Select(e => e.GetDouble()).ToArray(),
                _ when core == typeof(double) => v.GetDouble(),
                _ => Convert(name, v.ValueKind == JsonValueKind.Number ? v.GetRawText() : throw new InvalidOperationException(), core),
            };
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException)
        {
            throw new ConfigException($"{name} has a value of the wrong type ({v.ValueKind}); expected {Expected(core)}");
        }
    }

    private void CheckApplicable(BoundOptions bound)
    {
        foreach (var (type, bindings) in _records)
            if (bound.Record(type) is IApplicability applicability)
                foreach (Binding b in bindings)
                    if (bound.NameOf(b.Parameter.Name) is { } name && applicability.NotApplicable(b.Parameter.Name) is { } why)
                        throw new ConfigException($"{name}: {why}");
    }
}

/// <summary>Reading a JSON config file with messages that name the file and the line.</summary>
public static class ConfigFile
{
    /// <summary>The parsed file, whose root is an object (comments and trailing commas allowed).</summary>
    /// <exception cref="ConfigException">Unreadable, malformed or not an object.</exception>
    public static JsonDocument Read(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"cannot read config '{path}': {ex.Message}");
        }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }); }
        catch (JsonException ex)
        {
            throw new ConfigException($"{path}: malformed JSON at line {ex.LineNumber + 1}, position {ex.BytePositionInLine + 1}");
        }
        if (doc.RootElement.ValueKind == JsonValueKind.Object) return doc;
        doc.Dispose();
        throw new ConfigException($"{path}: the config must be a JSON object");
    }
}
