namespace Wasserflow.Parameters;

/// <summary>
/// Describes one setting of an options record once: what it means, its range and its named choices. The default is the
/// property's initial value. Applications derive their flags, config keys, help text and range checks from it
/// (<see cref="ParameterRecords"/>), so a setting is written in one place.
/// </summary>
/// <param name="description">What the setting means, in one phrase (units and symbols of the papers welcome).</param>
[AttributeUsage(AttributeTargets.Property, AllowMultiple = false)]
public sealed class ParameterAttribute(string description) : Attribute
{
    /// <summary>What the setting means.</summary>
    public string Description { get; } = description;

    /// <summary>A short alias (one letter, as "-n" on a command line); null for none.</summary>
    public string? Alias { get; init; }

    /// <summary>Lower bound (inclusive unless <see cref="ExclusiveMinimum"/>); NaN for none. Numbers must also be finite.</summary>
    public double Minimum { get; init; } = double.NaN;

    /// <summary>Whether <see cref="Minimum"/> itself is excluded (a step size must be &gt; 0).</summary>
    public bool ExclusiveMinimum { get; init; }

    /// <summary>Upper bound (inclusive); NaN for none.</summary>
    public double Maximum { get; init; } = double.NaN;

    /// <summary>
    /// A type implementing <see cref="INamedChoices"/> whose names are the only values this string setting takes
    /// (matched case-insensitively and stored as written there).
    /// </summary>
    public Type? Choices { get; init; }

    /// <summary>How to show the default when the initial value does not say it well (e.g. "the origin"); null: the value.</summary>
    public string? DefaultText { get; init; }

    /// <summary>Whether the setting changes the numbers of a run (false for threads, output folders): recorded with results only when true.</summary>
    public bool Recorded { get; init; } = true;
}

/// <summary>A named choice with its one-line description.</summary>
public readonly record struct NamedChoice(string Name, string Description);

/// <summary>A closed set of named values for a string setting (targets, algorithms, dictionaries).</summary>
public interface INamedChoices
{
    /// <summary>What one choice is called in messages ("target", "algorithm").</summary>
    static abstract string Noun { get; }

    /// <summary>The choices, in the order help lists them.</summary>
    static abstract IReadOnlyList<NamedChoice> Choices { get; }
}

/// <summary>
/// A setting that is out of range or inconsistent with another; <see cref="ArgumentException.ParamName"/> is the
/// property's name, and <see cref="Message"/> is the reason alone, so the caller can name the setting its own way
/// (a flag on a command line, a key in a config file).
/// </summary>
public sealed class InvalidParameterException(string parameter, string reason) : ArgumentException(reason, parameter)
{
    /// <summary>The reason, without the parameter's name.</summary>
    public string Reason { get; } = reason;

    /// <inheritdoc/>
    public override string Message => $"{ParamName}: {Reason}";
}

/// <summary>
/// Says which settings of a record apply in its current state (a target's own parameters, options of one algorithm):
/// the binder rejects a setting the user gave that does not apply, and result files record only those that do.
/// </summary>
public interface IApplicability
{
    /// <summary>Null when <paramref name="property"/> applies; otherwise why not ("applies to the gmm target, not to funnel").</summary>
    string? NotApplicable(string property);
}
