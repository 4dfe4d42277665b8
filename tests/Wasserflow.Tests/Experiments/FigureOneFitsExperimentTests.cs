using System.Globalization;
using Wasserflow.Experiments;

namespace Wasserflow.Tests.Experiments;

/// <summary>Paper 000's Figure 1 (bottom) on short runs: five fits with true KLs, the flow's parameter count, files repeat bit for bit.</summary>
public sealed class FigureOneFitsExperimentTests
{
    private static ExperimentOutput Run() => FigureOneFitsExperiment.Run(new FigureOneFitsSettings
    {
        Iterations = 300,
        NfIterations = 150,
        NfHidden = 16,
        KlDraws = 2000,
        Seed = 3,
    }, _ => { });

    [Fact]
    public void Five_fits_report_true_KLs_and_the_files_repeat()
    {
        ExperimentOutput first = Run();
        string[] rows = first.Files["results.csv"].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("method,parameters,status,kl,kl_se", rows[0]);
        Assert.Equal(["IBW N = 10,30", "IBW N = 20,60", "GD N = 10,30", "BW K = 10,50", "RealNVP b = 2 / h = 16,656"],
            rows.Skip(1).Select(r => string.Join(',', r.Split(',').Take(2))));
        foreach (string row in rows.Skip(1))
        {
            string[] f = row.Split(',');
            double kl = double.Parse(f[^2], CultureInfo.InvariantCulture), se = double.Parse(f[^1], CultureInfo.InvariantCulture);
            Assert.Equal("completed", f[^3]);
            // A true KL: non-negative up to its noise, and below the 0.9+ nats of a single broad Gaussian.
            Assert.True(kl > -4 * se && kl < 3, row);
        }
        Assert.Contains("fit-5.svg", first.Files.Keys);
        ExperimentOutput second = Run();
        Assert.Equal(first.Files["results.csv"], second.Files["results.csv"]);
        Assert.Equal(first.Files["report.html"], second.Files["report.html"]);
    }
}
