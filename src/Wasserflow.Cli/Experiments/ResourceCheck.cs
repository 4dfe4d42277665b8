using System.Globalization;
using Wasserflow.Parameters;
using Wasserflow.Targets;

namespace Wasserflow.Experiments;

/// <summary>
/// The memory a command will need, estimated from its settings before anything is allocated (in floating point, so no
/// product of sizes can overflow) and checked against what this machine allows: too much is an error that names the
/// setting to lower, not an OverflowException or a machine swapping for minutes.
/// </summary>
public static class ResourceCheck
{
    /// <summary>The share of the memory available to the process a run may plan to use.</summary>
    public const double Share = 0.75;

    /// <summary>Checks the memory of <c>fit</c> with these settings.</summary>
    /// <exception cref="InvalidParameterException">Too much; names the setting whose term is largest.</exception>
    public static void Fit(TargetParameters target, FitSettings fit)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(fit);
        double d = target.Dimension, n = fit.Components;
        var terms = new List<(double, string)> { TargetTerm(target) };
        if (fit.IsBuresWasserstein)
        {
            terms.Add((n * d * d * 8 * 30, n > 1 ? nameof(FitSettings.Components) : nameof(TargetParameters.Dimension)));
            terms.Add(fit.Expectation == "mc" ? (n * fit.Samples * d * 8 * 3, nameof(FitSettings.Samples)) : (n * 2 * d * d * 8 * 3, nameof(TargetParameters.Dimension)));
        }
        else
        {
            terms.Add((n * d * 8 * 8, nameof(FitSettings.Components)));
            terms.Add((n * (double)fit.Samples * d * 8 * 3 * fit.Threads, nameof(FitSettings.Samples)));
        }
        Check(terms);
    }

    /// <summary>Checks the memory of <c>rovi</c> with these settings (restarts at once, each with its batch and final draws).</summary>
    /// <exception cref="InvalidParameterException">Too much; names the setting whose term is largest.</exception>
    public static void Rovi(TargetParameters target, RoviSettings rovi)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(rovi);
        double d = target.Dimension, atOnce = Math.Min(rovi.Threads, rovi.Restarts);
        Check([TargetTerm(target), (atOnce * rovi.Batch * d * 8 * 8, nameof(RoviSettings.Batch)), (atOnce * d * d * 8 * 4, nameof(TargetParameters.Dimension)),
            (rovi.Restarts * d * (d + 100) * 8, nameof(RoviSettings.Restarts))]);
    }

    // The target's own arrays: a full-covariance mixture keeps a covariance, a factor and a precision per component.
    private static (double Bytes, string Property) TargetTerm(TargetParameters t) => t.Target switch
    {
        "gmm" => ((double)t.TargetComponents * t.Dimension * (t.TargetCovariance == "full" ? t.Dimension : 1) * 8 * 4, nameof(TargetParameters.Dimension)),
        "logistic" => ((double)t.Points * t.Dimension * 8 * 3, nameof(TargetParameters.Points)),
        _ => ((double)t.Dimension * 8 * 4, nameof(TargetParameters.Dimension)),
    };

    /// <summary>Throws when the terms add up to more than <see cref="Share"/> of the available memory, or one array would be longer than .NET allows.</summary>
    /// <exception cref="InvalidParameterException">Too much; names the largest term's setting.</exception>
    public static void Check(IReadOnlyList<(double Bytes, string Property)> terms)
    {
        ArgumentNullException.ThrowIfNull(terms);
        double total = terms.Sum(t => t.Bytes), limit = Share * GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        var largest = terms.MaxBy(t => t.Bytes);
        if (total > limit)
            throw new InvalidParameterException(largest.Property, string.Create(CultureInfo.InvariantCulture,
                $"the run would need about {Gigabytes(total)} of memory, more than the {Gigabytes(limit)} this machine allows ({Share:P0} of what is available); lower this setting"));
        if (terms.Any(t => t.Bytes / 8 > Array.MaxLength))
            throw new InvalidParameterException(largest.Property, "an array of the run would hold more numbers than .NET allows; lower this setting");
    }

    private static string Gigabytes(double bytes) => bytes >= 1e9 ? (bytes / 1e9).ToString("G3", CultureInfo.InvariantCulture) + " GB" : (bytes / 1e6).ToString("G3", CultureInfo.InvariantCulture) + " MB";
}
