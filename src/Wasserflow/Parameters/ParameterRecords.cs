using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;

namespace Wasserflow.Parameters;

/// <summary>One described setting of an options record: the property, its attribute and its default.</summary>
/// <param name="Property">The init-only property.</param>
/// <param name="Attribute">Its description, range and choices.</param>
/// <param name="Default">The value a new record has.</param>
public sealed record ParameterInfo(PropertyInfo Property, ParameterAttribute Attribute, object? Default)
{
    /// <summary>The property's name (the parameter name exceptions carry).</summary>
    public string Name => Property.Name;

    /// <summary>The property's type.</summary>
    public Type Type => Property.PropertyType;

    /// <summary>The named choices of a string setting, or null.</summary>
    public IReadOnlyList<NamedChoice>? Choices => Attribute.Choices is { } t
        ? (IReadOnlyList<NamedChoice>)t.GetProperty(nameof(INamedChoices.Choices), BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!
        : null;

    /// <summary>What one choice is called in messages, or "value".</summary>
    public string Noun => Attribute.Choices?.GetProperty(nameof(INamedChoices.Noun), BindingFlags.Public | BindingFlags.Static)?.GetValue(null) as string ?? "value";
}

/// <summary>
/// Reads the <see cref="ParameterAttribute"/>s of an options record and checks a record against them: the one place a
/// range is enforced, whether the record came from code, a command line or a config file.
/// </summary>
public static class ParameterRecords
{
    private static readonly ConcurrentDictionary<Type, IReadOnlyList<ParameterInfo>> Described = new();

    /// <summary>The described settings of <paramref name="recordType"/>, in declaration order, with the defaults of a new instance (read once per type).</summary>
    public static IReadOnlyList<ParameterInfo> Describe(Type recordType)
    {
        ArgumentNullException.ThrowIfNull(recordType);
        return Described.GetOrAdd(recordType, Read);
    }

    private static IReadOnlyList<ParameterInfo> Read(Type recordType)
    {
        object defaults = Activator.CreateInstance(recordType)!;
        return [.. recordType.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetCustomAttribute<ParameterAttribute>() is not null)
            .OrderBy(p => p.MetadataToken)
            .Select(p => new ParameterInfo(p, p.GetCustomAttribute<ParameterAttribute>()!, p.GetValue(defaults)))];
    }

    /// <summary>Checks every described setting of <paramref name="record"/> against its range and choices.</summary>
    /// <exception cref="InvalidParameterException">The first setting out of range, by property name.</exception>
    public static void Validate(object record)
    {
        ArgumentNullException.ThrowIfNull(record);
        foreach (ParameterInfo p in Describe(record.GetType())) Check(p, p.Property.GetValue(record));
    }

    /// <summary>Checks one value of a described setting.</summary>
    /// <exception cref="InvalidParameterException">Out of range, not finite, or not one of the choices.</exception>
    public static void Check(ParameterInfo parameter, object? value)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        ParameterAttribute a = parameter.Attribute;
        switch (value)
        {
            case double[] values:
                foreach (double v in values)
                    if (!double.IsFinite(v)) throw new InvalidParameterException(parameter.Name, $"every value must be finite, got {Show(v)}");
                break;
            case string text when parameter.Choices is { } choices:
                if (!choices.Any(c => string.Equals(c.Name, text, StringComparison.OrdinalIgnoreCase)))
                    throw new InvalidParameterException(parameter.Name, UnknownChoice(text, choices, parameter.Noun));
                break;
            case int or long or ulong or double:
                CheckRange(parameter.Name, a, Convert.ToDouble(value, CultureInfo.InvariantCulture), value is double);
                break;
        }
    }

    /// <summary>"unknown target 'x'; expected one of: a, b, c", naming the closest choice when one is near.</summary>
    public static string UnknownChoice(string value, IReadOnlyList<NamedChoice> choices, string noun)
    {
        ArgumentNullException.ThrowIfNull(choices);
        string? near = Closest(value, choices.Select(c => c.Name));
        return $"unknown {noun} '{value}'{(near is null ? "" : $" (did you mean '{near}'?)")}; expected one of: {string.Join(", ", choices.Select(c => c.Name))}";
    }

    /// <summary>The candidate within edit distance max(1, |value|/3) of <paramref name="value"/>, the nearest first; null when none is that near.</summary>
    public static string? Closest(string value, IEnumerable<string> candidates)
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(candidates);
        int limit = Math.Max(1, value.Length / 3);
        return candidates.Select(c => (Name: c, Distance: EditDistance(value.ToLowerInvariant(), c.ToLowerInvariant())))
            .Where(c => c.Distance <= limit).OrderBy(c => c.Distance).Select(c => c.Name).FirstOrDefault();
    }

    private static int EditDistance(string a, string b)
    {
        var row = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) row[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            int diagonal = row[0];
            row[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }

    private static void CheckRange(string name, ParameterAttribute a, double v, bool real)
    {
        bool hasMin = !double.IsNaN(a.Minimum), hasMax = !double.IsNaN(a.Maximum);
        bool ok = double.IsFinite(v)
            && (!hasMin || (a.ExclusiveMinimum ? v > a.Minimum : v >= a.Minimum))
            && (!hasMax || v <= a.Maximum);
        if (ok) return;
        string bounds = (hasMin, hasMax) switch
        {
            (true, true) => $"between {Show(a.Minimum)} and {Show(a.Maximum)}",
            (true, false) => $"{(a.ExclusiveMinimum ? ">" : "≥")} {Show(a.Minimum)}",
            (false, true) => $"≤ {Show(a.Maximum)}",
            _ => "",
        };
        string rule = bounds.Length == 0 ? "finite" : real ? bounds + " and finite" : bounds;
        throw new InvalidParameterException(name, $"must be {rule}, got {Show(v)}");
    }

    /// <summary>A number as the invariant culture writes it, shortest round-trip form.</summary>
    public static string Show(double v) => v.ToString(CultureInfo.InvariantCulture);
}
