using System.Globalization;
using System.Text;
using Wasserflow.Parameters;
using Wasserflow.Reports;
using Wasserflow.Running;
using Wasserflow.Targets;

namespace Wasserflow.Experiments;

/// <summary>
/// Paper 000, Figure 1: a 2-D target mixture of 5 Gaussians (Table 1: s_tg = 8, r_tg = 5, N_tg = 5), fitted by
/// uniform mixtures of N = 1, 5, 10, 20 isotropic Gaussians with IBW and MD (γ = 0.1, B = 10, s = 15, r = 2).
/// Writes one folder per run and a combined report with the final KLs beside the paper's.
/// </summary>
public static class FigureOneDemo
{
    /// <summary>N values of the figure.</summary>
    public static readonly int[] ComponentCounts = [1, 5, 10, 20];

    /// <summary>Algorithms of the figure.</summary>
    public static readonly string[] Algorithms = ["ibw", "md"];

    /// <summary>
    /// KL after 10⁴ IBW iterations reached by the paper's reference code on this machine (docs/specs/mig.md, from an
    /// independent run; the paper's own figure gives curves, not numbers).
    /// </summary>
    public static readonly IReadOnlyDictionary<int, double> ReferenceIbwKl = new Dictionary<int, double> { [1] = 0.43, [5] = 0.010, [10] = 0.0055, [20] = 0.0003 };

    /// <summary>The runs of the demo, all sharing one target (Table 1: d = 2, N_tg = 5, s_tg = 8, r_tg = 5, full covariances, target seed 1).</summary>
    public static IReadOnlyList<FitJob> Jobs(DemoSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var target = new TargetParameters { Target = "gmm", Dimension = 2, TargetComponents = 5, TargetSpread = 8, TargetScale = 5, TargetCovariance = "full", TargetSeed = 1 };
        var list = new List<FitJob>();
        foreach (string algorithm in Algorithms)
            foreach (int n in ComponentCounts)
                list.Add(new FitJob(target, new FitSettings
                {
                    Components = n,
                    Algorithm = algorithm,
                    StepSize = 0.1,
                    Iterations = settings.Iterations,
                    Samples = 10,
                    KlSamples = 1000,
                    KlEvery = Math.Max(1, (int)Math.Min(int.MaxValue, settings.Iterations / 100)),
                    InitSpread = 15,
                    InitVariance = 2,
                    Seed = settings.Seed,
                    Threads = settings.Threads,
                    Output = Path.Combine(settings.Output, $"{algorithm}-N{n}"),
                }));
        return list;
    }

    /// <summary>The combined report's files: per-run folders, the KL plot, the comparison table, report.html.</summary>
    public static Dictionary<string, string> Files(IReadOnlyList<FitOutcome> outcomes, string output)
    {
        ArgumentNullException.ThrowIfNull(outcomes);
        var files = new Dictionary<string, string>();
        foreach (var o in outcomes)
        {
            string folder = Path.GetRelativePath(output, o.Config.Output);
            foreach (var (name, text) in FitRun.Files(o)) files[Path.Combine(folder, name)] = text;
        }
        var series = outcomes.Select(o => FitRun.TraceSeries(o, Plots.Palette[Array.IndexOf(ComponentCounts, o.Config.Components) % Plots.Palette.Length],
            dash: o.Config.Algorithm == "md" ? "5,3" : null)).ToList();
        files["kl.svg"] = Plots.Lines(series, "Figure 1: KL(q‖π) against iteration (IBW solid, MD dashed)", "iteration", "KL", logX: true, logY: true, width: 640, height: 420);

        var rows = new List<string[]>();
        var csv = new StringBuilder("algorithm,N,iterations,kl,standard_error,grid_kl,reference_ibw_kl\n");
        foreach (var o in outcomes)
        {
            double reference = ReferenceIbwKl.TryGetValue(o.Config.Components, out double r) ? r : double.NaN;
            rows.Add([o.Config.Algorithm.ToUpperInvariant(), o.Config.Components.ToString(CultureInfo.InvariantCulture),
                o.Result.FinalState.Iteration.ToString(CultureInfo.InvariantCulture),
                $"{ResultFiles.G(o.FinalKl.Value)} ± {ResultFiles.G(o.FinalKl.StandardError)}", o.Grid is { } g ? ResultFiles.G(g.Kl) : "",
                o.Config.Algorithm == "ibw" ? ResultFiles.G(reference) : "(IBW: " + ResultFiles.G(reference) + ")",
                o.Result.Status == RunStatus.Completed ? "completed" : o.Result.Message ?? o.Result.Status.ToString()]);
            csv.Append(CultureInfo.InvariantCulture, $"{o.Config.Algorithm},{o.Config.Components},{o.Result.FinalState.Iteration},{o.FinalKl.Value:R},{o.FinalKl.StandardError:R},{(o.Grid is { } g2 ? g2.Kl : double.NaN):R},{reference:R}\n");
        }
        files["summary.csv"] = csv.ToString();
        var body = new StringBuilder();
        body.Append("<p>Target: random mixture of 5 Gaussians in 2-D (Appendix E.2, s<sub>tg</sub> = 8, r<sub>tg</sub> = 5, full covariances, target seed 1). ");
        body.Append("Family: uniform mixtures of N isotropic Gaussians, initial means uniform in [−15, 15]², variances 2; γ = 0.1, B = 10, KL from 1000 draws along the run and 10 000 at the end. ");
        body.Append("The reference column is the KL the paper's code reaches after 10<sup>4</sup> IBW iterations on its own random target of the same kind, so only the trend with N is comparable, not the digits.</p>\n");
        body.Append(Html.Table(["algorithm", "N", "iterations", "final KL (MC ± s.e.)", "KL vs grid-normalised target", "paper's code (IBW, 10⁴ it.)", "status"], rows));
        body.Append("<p><img src=\"kl.svg\" alt=\"KL traces\"/></p>\n");
        foreach (string algorithm in Algorithms)
        {
            body.Append(CultureInfo.InvariantCulture, $"<h2>Fitted densities ({algorithm.ToUpperInvariant()})</h2>\n");
            foreach (var o in outcomes.Where(o => o.Config.Algorithm == algorithm))
                body.Append(CultureInfo.InvariantCulture, $"<p><img src=\"{Path.GetRelativePath(output, o.Config.Output)}/density.svg\" alt=\"N = {o.Config.Components}\"/></p>\n");
        }
        files["report.html"] = Html.Page("Wasserflow demo: paper 000, Figure 1 (IBW and MD, N = 1, 5, 10, 20)", body.ToString());
        return files;
    }
}

/// <summary>The settings of <c>wasserflow demo</c>.</summary>
public sealed record DemoSettings
{
    /// <summary>Iterations per run.</summary>
    [Parameter("iterations per run (paper: 10000)", Minimum = 1)]
    public long Iterations { get; init; } = 10_000;

    /// <summary>Seed of every run.</summary>
    [Parameter("seed of every run")]
    public ulong Seed { get; init; }

    /// <summary>Threads per run (results do not depend on it).</summary>
    [Parameter("threads per run (results do not depend on it)", Minimum = 1, Recorded = false)]
    public int Threads { get; init; } = 1;

    /// <summary>Output folder.</summary>
    [Parameter("output folder", Alias = "-o", Recorded = false)]
    public string Output { get; init; } = "runs/demo";
}
