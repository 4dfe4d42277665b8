using Wasserflow.Targets;

namespace Wasserflow.Tests;

internal static class TestSupport
{
    /// <summary>Runs the command line in process: its exit code, standard output and standard error.</summary>
    public static (int Code, string Out, string Err) RunCli(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = global::Wasserflow.Cli.WasserflowCli.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>Central finite differences of f at x, h = ε^{1/3} max(1, |x_i|) (docs/STYLE.md section 5).</summary>
    public static double[] FiniteDifferenceGradient(Func<double[], double> f, double[] x)
    {
        var g = new double[x.Length];
        var probe = (double[])x.Clone();
        for (int i = 0; i < x.Length; i++)
        {
            double h = Math.Cbrt(2.220446049250313e-16) * Math.Max(1.0, Math.Abs(x[i]));
            probe[i] = x[i] + h;
            double up = f(probe);
            probe[i] = x[i] - h;
            double down = f(probe);
            probe[i] = x[i];
            g[i] = (up - down) / (2 * h);
        }
        return g;
    }

    public static void AssertGradientMatchesFiniteDifferences(ITarget target, double[] x, double relativeTolerance = 1e-6)
    {
        var g = new double[x.Length];
        double lp = target.LogDensityAndGradient(x, g);
        Assert.Equal(target.LogDensity(x), lp, 12);
        double[] fd = FiniteDifferenceGradient(p => target.LogDensity(p), x);
        for (int i = 0; i < x.Length; i++)
            Assert.True(Math.Abs(g[i] - fd[i]) <= relativeTolerance * (1 + Math.Abs(fd[i])),
                $"{target.Name}: gradient[{i}] = {g[i]} but finite differences give {fd[i]} at x = [{string.Join(", ", x)}]");
    }

    /// <summary>
    /// Central differences (step 1e−5·max(1, |θ|)) of <paramref name="objective"/> in every entry of every block against
    /// the analytic gradient recorded for it: relative error below 1e−6.
    /// </summary>
    public static void AssertBackwardMatchesFiniteDifferences(IEnumerable<(string Name, double[] Values, double[] Analytic)> blocks, Func<double> objective)
    {
        foreach (var (name, values, analytic) in blocks)
            for (int i = 0; i < values.Length; i++)
            {
                double saved = values[i], step = 1e-5 * Math.Max(1.0, Math.Abs(saved));
                values[i] = saved + step;
                double up = objective();
                values[i] = saved - step;
                double down = objective();
                values[i] = saved;
                double fd = (up - down) / (2 * step);
                Assert.True(Math.Abs(fd - analytic[i]) <= 1e-6 * (1 + Math.Abs(fd)), $"{name}[{i}]: backward {analytic[i]}, finite differences {fd}");
            }
    }

    /// <summary>A 2-D Gaussian-mixture target of 5 components (paper 000 Figure 1 settings: s_tg 8, r_tg 5).</summary>
    public static GaussianMixtureTarget FigureOneTarget(ulong seed = 1) =>
        GaussianMixtureTarget.Random(new Wasserflow.Randomness.Xoshiro256StarStar(seed), 2, 5, 8, 5, CovarianceKind.Full);

    /// <summary>The repository's root folder (the one holding Wasserflow.slnx), found upwards from the test assembly.</summary>
    public static string RepositoryRoot()
    {
        for (string? dir = AppContext.BaseDirectory; dir is not null; dir = Path.GetDirectoryName(dir))
            if (File.Exists(Path.Combine(dir, "Wasserflow.slnx"))) return dir;
        throw new InvalidOperationException($"no Wasserflow.slnx above {AppContext.BaseDirectory}");
    }
}
