using System.Globalization;
using Wasserflow.Experiments;
using Wasserflow.Parameters;

namespace Wasserflow.Tests.Experiments;

/// <summary>Paper 000's Figure 2 experiment on small dimensions: both fits per d, the full-covariance flow only timed above its cap.</summary>
public sealed class DimensionScalingExperimentTests
{
    private static ExperimentOutput Run() => DimensionScalingExperiment.Run(new DimensionScalingSettings
    {
        Dimensions = "2,3",
        Components = 3,
        Iterations = 40,
        BwMaxDimension = 2,
        TimingIterations = 2,
        Seed = 1,
    }, _ => { });

    [Fact]
    public void Each_dimension_gets_both_fits_and_only_the_times_differ_between_runs()
    {
        ExperimentOutput first = Run();
        string[] rows = first.Files["results.csv"].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("dimension,method,status,iterations,kl,kl_se", rows[0]);
        Assert.Equal(["2,ibw", "2,bw", "3,ibw", "3,bw"], rows.Skip(1).Select(r => string.Join(',', r.Split(',').Take(2))));
        // d = 3 is above the cap: the full-covariance flow is timed over 2 steps and has no KL.
        Assert.Equal("3,bw,timed over 2 steps,2,,", rows[4]);
        foreach (string row in rows.Skip(1).Take(3))
        {
            string[] f = row.Split(',');
            Assert.Equal("completed", f[2]);
            Assert.Equal("40", f[3]);
            Assert.True(double.Parse(f[4], CultureInfo.InvariantCulture) > -4 * double.Parse(f[5], CultureInfo.InvariantCulture)); // a true KL, ≥ 0 up to its noise
        }
        Assert.All(first.Files["timings.csv"].Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1),
            r => Assert.True(double.Parse(r.Split(',')[3], CultureInfo.InvariantCulture) > 0));
        ExperimentOutput second = Run();
        Assert.Equal(first.Files["results.csv"], second.Files["results.csv"]);
        Assert.Equal(first.Files["report.html"], second.Files["report.html"]);
    }

    [Fact]
    public void A_bad_dimension_list_is_named()
    {
        var ex = Assert.Throws<InvalidParameterException>(() => DimensionScalingExperiment.Dimensions(new DimensionScalingSettings { Dimensions = "2,ten" }));
        Assert.Contains("'ten' is not a dimension", ex.Message, StringComparison.Ordinal);
    }
}
