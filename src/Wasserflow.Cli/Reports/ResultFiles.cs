using System.Globalization;
using System.Text;
using System.Text.Json;
using Wasserflow.Cli.Options;
using Wasserflow.Diagnostics;
using Wasserflow.Running;

namespace Wasserflow.Reports;

/// <summary>
/// The one writer of run results shared by fit, rovi and the experiments: result.json (tool, version, the recorded
/// settings, status, numbers, RNG state, trace), trace.csv and timings.json. Everything but timings.json is the same
/// bytes for the same settings and seed.
/// </summary>
public static class ResultFiles
{
    /// <summary>An indented JSON document written by <paramref name="body"/> inside one object, with a final newline.</summary>
    public static string Json(Action<Utf8JsonWriter> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            body(w);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    /// <summary>"tool", "version" and "config": the recorded, applicable settings of <paramref name="records"/>, in order.</summary>
    public static void WriteHeader(Utf8JsonWriter w, params object[] records)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(records);
        w.WriteString("tool", "wasserflow");
        w.WriteString("version", typeof(ResultFiles).Assembly.GetName().Version?.ToString() ?? "0");
        w.WriteStartObject("config");
        foreach (object record in records) CommandOptions.WriteRecorded(w, record);
        w.WriteEndObject();
    }

    /// <summary>"status" and, when there are any, "message" and "warnings".</summary>
    public static void WriteStatus(Utf8JsonWriter w, string status, string? message, IReadOnlyList<string>? warnings = null)
    {
        ArgumentNullException.ThrowIfNull(w);
        w.WriteString("status", status);
        if (message is not null) w.WriteString("message", message);
        if (warnings is { Count: > 0 })
        {
            w.WriteStartArray("warnings");
            foreach (string warning in warnings) w.WriteStringValue(warning);
            w.WriteEndArray();
        }
    }

    /// <summary>A run's status, message and warnings.</summary>
    public static void WriteStatus<TState>(Utf8JsonWriter w, RunResult<TState> result)
    {
        ArgumentNullException.ThrowIfNull(result);
        WriteStatus(w, result.StatusText, result.Message, result.Warnings);
    }

    /// <summary>The status row of a report: status, then the message and each warning.</summary>
    public static string StatusRow<TState>(RunResult<TState> result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return result.StatusText + (result.Message is null ? "" : ": " + result.Message)
            + string.Concat(result.Warnings.Select(warning => "; warning: " + warning));
    }

    /// <summary>Where the --early-stop rule stands at the end of a run, in words (both criteria).</summary>
    public static string StopRuleText(TraceWindowRule rule, IReadOnlyList<TracePoint> trace)
    {
        ArgumentNullException.ThrowIfNull(rule);
        TraceWindowCheck c = rule.Check(trace);
        string kl = double.IsNaN(c.KlChange) ? "KL windows: fewer than two windows of trace points"
            : $"KL windows differ by {G(c.KlChange)} (2 s.e. {G(c.TwoStandardErrors)}, tolerance {G(rule.Tolerance)}): {(c.KlSettled ? "settled" : "moving")}";
        string parameters = double.IsNaN(c.ParameterChange) ? "parameter change: not measured"
            : $"the fit's mean moved up to {G(c.ParameterChange)} sd between trace points (tolerance {G(rule.ParameterTolerance)}): {(c.ParametersSettled ? "settled" : "moving")}";
        return $"{(c.Converged ? "stopped" : "did not stop")}; {kl}; {parameters}";
    }

    /// <summary>The "stopRule" object of result.json: both criteria of the --early-stop rule at the end of the run.</summary>
    public static void WriteStopRule(Utf8JsonWriter w, TraceWindowRule rule, IReadOnlyList<TracePoint> trace)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(rule);
        TraceWindowCheck c = rule.Check(trace);
        w.WriteStartObject("stopRule");
        WriteFiniteOrNull(w, "klWindowChange", c.KlChange);
        WriteFiniteOrNull(w, "klTwoStandardErrors", c.TwoStandardErrors);
        w.WriteNumber("klTolerance", rule.Tolerance);
        w.WriteBoolean("klSettled", c.KlSettled);
        WriteFiniteOrNull(w, "parameterChange", c.ParameterChange);
        w.WriteNumber("parameterTolerance", rule.ParameterTolerance);
        w.WriteBoolean("parametersSettled", c.ParametersSettled);
        w.WriteEndObject();
    }

    /// <summary>A KL estimate as an object (value, standardError, draws, isTrueKl).</summary>
    public static void WriteKl(Utf8JsonWriter w, string name, KlEstimate kl)
    {
        ArgumentNullException.ThrowIfNull(w);
        w.WriteStartObject(name);
        WriteFiniteOrNull(w, "value", kl.Value);
        WriteFiniteOrNull(w, "standardError", kl.StandardError);
        w.WriteNumber("draws", kl.Draws);
        w.WriteBoolean("isTrueKl", kl.IsExact);
        w.WriteEndObject();
    }

    /// <summary>"rngState" (hex words, so a run can be continued) and "trace" (the KL estimates along the run).</summary>
    public static void WriteRngAndTrace(Utf8JsonWriter w, ulong[] rngState, IReadOnlyList<TracePoint> trace)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(rngState);
        ArgumentNullException.ThrowIfNull(trace);
        w.WriteStartArray("rngState");
        foreach (ulong s in rngState) w.WriteStringValue(s.ToString("X16", CultureInfo.InvariantCulture));
        w.WriteEndArray();
        w.WriteStartArray("trace");
        foreach (var p in trace)
        {
            w.WriteStartObject();
            w.WriteNumber("iteration", p.Iteration);
            WriteFiniteOrNull(w, "kl", p.Kl);
            WriteFiniteOrNull(w, "standardError", p.StandardError);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>A number, or null where it is NaN or infinite (JSON has neither).</summary>
    public static void WriteFiniteOrNull(Utf8JsonWriter w, string name, double value)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (double.IsFinite(value)) w.WriteNumber(name, value);
        else w.WriteNull(name);
    }

    /// <summary>An array of numbers (a property, or an array element when <paramref name="name"/> is null).</summary>
    public static void WriteArray(Utf8JsonWriter w, string? name, ReadOnlySpan<double> values)
    {
        ArgumentNullException.ThrowIfNull(w);
        if (name is null) w.WriteStartArray();
        else w.WriteStartArray(name);
        foreach (double v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }

    /// <summary>trace.csv: iteration, KL estimate, standard error.</summary>
    public static string TraceCsv(IReadOnlyList<TracePoint> trace)
    {
        ArgumentNullException.ThrowIfNull(trace);
        var sb = new StringBuilder("iteration,kl,standard_error,parameter_change\n");
        foreach (var p in trace) sb.Append(CultureInfo.InvariantCulture, $"{p.Iteration},{p.Kl:R},{p.StandardError:R},{(double.IsNaN(p.ParameterChange) ? "" : p.ParameterChange.ToString("R", CultureInfo.InvariantCulture))}\n");
        return sb.ToString();
    }

    /// <summary>timings.json: named numbers (seconds, rates, counts), the one file that differs between identical runs.</summary>
    public static string Timings(params (string Name, double Value)[] entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        return "{\n" + string.Join(",\n", entries.Select(e => string.Create(CultureInfo.InvariantCulture, $"  \"{e.Name}\": {e.Value:R}"))) + "\n}\n";
    }

    /// <summary>A number as reports show it: four significant digits, invariant culture.</summary>
    public static string G(double v) => v.ToString("G4", CultureInfo.InvariantCulture);

    /// <summary>
    /// The "whitening" object of a run made in Laplace-whitened coordinates: the fit's parameters in result.json are in v,
    /// and u = shift + factor · v (factor row-major, lower triangular).
    /// </summary>
    public static void WriteWhitening(Utf8JsonWriter w, Targets.AffineTarget whitened)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(whitened);
        w.WriteStartObject("whitening");
        w.WriteString("meaning", "the fit's parameters are in v; the model's unconstrained parameters are u = shift + factor · v");
        WriteArray(w, "shift", whitened.Shift);
        WriteArray(w, "factor", whitened.Factor);
        w.WriteEndObject();
    }
}
