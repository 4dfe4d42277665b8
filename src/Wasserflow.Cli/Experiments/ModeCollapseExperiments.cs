using System.Globalization;
using System.Net;
using System.Text;
using Wasserflow.Baselines;
using Wasserflow.Diagnostics;
using Wasserflow.Families;
using Wasserflow.Flows;
using Wasserflow.Randomness;
using Wasserflow.Reports;
using Wasserflow.Running;
using Wasserflow.Targets;

namespace Wasserflow.Experiments;

/// <summary>
/// The experiment of paper 003 §3.1 (Figure 3) as one named run, <c>mode-collapse</c>: on the six two-component
/// Gaussian mixtures of the paper and a seventh of ours (docs/specs/rovi-mfvi.md §8), polyhedral MFVI and rotational VI
/// (8 restarts each, spec defaults), Langevin (ULA, 10⁴ chains from the origin) and exact samples, compared by free
/// energy, mode masses, marginal W₁ and the rotation's alignment, beside the paper's findings and the spec's prototype.
/// </summary>
public static class ModeCollapseExperiments
{
    /// <summary>The experiment names, as on the command line.</summary>
    public static IReadOnlyList<string> Names { get; } = ["mode-collapse"];

    /// <summary>One setting: weights, means (K×2), covariances (K×2×2), what the paper says and what the spec's prototype measured.</summary>
    public sealed record Setting(string Name, double[] Weights, double[] Means, double[] Covariances, string Paper, string Prototype);

    /// <summary>The seven settings of spec §8 ((vi)'s covariance symmetrised as the spec assumes; (vii) is the spec's).</summary>
    public static IReadOnlyList<Setting> Settings { get; } =
    [
        new("(i)", [1.0], [0, 0], [1.8, 1.2, 1.2, 1.0],
            "MFVI underdispersed, RoVI exact", "MFVI 0.8049 (closed form 0.8047), RoVI −0.0007"),
        new("(ii)", [0.4, 0.6], [-2.5, 0, 2.5, 0], [1, 0, 0, 1, 1, 0, 0, 1],
            "all three recover the target", "MFVI / RoVI 0.0003, masses 0.39 / 0.61; LMC 0.404 (exact 0.391)"),
        new("(iii)", [0.5, 0.5], [-2.5, -1.5, 2, 1], [1, 0, 0, 1, 1, 0, 0, 1],
            "RoVI captures both modes, MFVI collapses", "MFVI 0.6245 (0.931 / 0.069), RoVI 0.0057 (0.465 / 0.535); LMC 0.474"),
        new("(iv)", [0.5, 0.5], [-8, -8, 8, 8], [1, 0, 0, 1, 1, 0, 0, 1],
            "LMC and RoVI recover both modes, MFVI collapses", "MFVI 0.6924 (1 / 0), RoVI 0.0083 (0.487 / 0.513); LMC 0.506"),
        new("(v)", [0.5, 0.5], [-2, -2, 2.5, 2], [1.8, -0.6, -0.6, 1.2, 0.7, 0, 0, 1.1],
            "RoVI matches LMC marginals, MFVI underdispersed", "MFVI 0.720 (0.986 / 0.014), RoVI 0.130 (0.66 / 0.34); LMC 0.598"),
        new("(vi)", [0.5, 0.5], [-5, -5, 2.5, 2], [2, -0.6, -0.6, 2, 0.7, 0, 0, 1.1],
            "all three collapse", "MFVI 0.692 (0 / 1), RoVI 0.391 (0.115 / 0.885); LMC 0.001"),
        new("(vii)", [0.5, 0.5], [-3, 0, 3, 0], [1.5, 0.5, 0.5, 1, 1.5, 0.5, 0.5, 1],
            "(not in the paper) Prop. 3.1 bound 0.0912", "RoVI 0.0829 ≤ bound 0.0912"),
    ];

    private const string Intro = "<p>Paper 003 §3.1 (Figure 3): two-component Gaussian mixtures in R² (spec docs/specs/rovi-mfvi.md §8). "
        + "MFVI and RoVI: default dictionary (Q40 with midpoint steps, α = 0.1), forward–backward step τ = 0.01, η_O = 0.01, "
        + "N = 1000, T ≤ 3000 with the window stop rule, 8 restarts (RoVI's first from O = I, the others Haar), v₀ ~ N(0, 2²I); "
        + "F̂ (= KL, the targets are normalised) on 4·10⁵ fresh draws. LMC: ULA with h = 0.01, 10⁴ chains from the origin, "
        + "5000 steps. Masses: fraction of 10⁴ draws whose responsibility for a component exceeds ½. W₁: per-coordinate "
        + "distance between 10⁴ draws and 10⁴ exact samples. Angle: RoVI's best rotation against the direction between the "
        + "means (the leading eigenvector of Σ in (i)). The last column gives the paper's finding and the spec's prototype "
        + "(Python, 4·10⁵-sample F̂). The row \"RoVI (s₀ = 5)\" is ours: the same algorithm started from wide maps, "
        + "μ₀ = N(O v₀, 25 I), so that every restart overlaps the basins of both modes from its first iteration.</p>\n";

    // MFVI, RoVI, RoVI from wide maps (ours: μ₀ = N(O v₀, 25 I), which overlap both basins from the start) and LMC on one
    // setting, each timed into timings.csv.
    private static (RotationalViResult Mfvi, RotationalViResult Rovi, RotationalViResult Wide, double[] Lmc) FitAll(
        Setting s, GaussianMixtureTarget target, ulong stream, int threads, int draws, StringBuilder timings, CheckpointStore? checkpoints)
    {
        CheckpointStore? For(string method) => checkpoints?.WithPrefix($"setting-{s.Name}-{method}-");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        T Timed<T>(string method, Func<T> run)
        {
            clock.Restart();
            T result = run();
            timings.Append(string.Create(CultureInfo.InvariantCulture, $"{s.Name},{method},{clock.Elapsed.TotalSeconds:F2}\n"));
            return result;
        }
        var mfvi = Timed("MFVI", () => RotationalVi.Fit(target, new RotationalViOptions { Rotate = false, Threads = threads, Seed = Xoshiro256StarStar.Mix(stream, 2) }, checkpoints: For("mfvi")));
        var rovi = Timed("RoVI", () => RotationalVi.Fit(target, new RotationalViOptions { Threads = threads, Seed = Xoshiro256StarStar.Mix(stream, 3) }, checkpoints: For("rovi")));
        var wide = Timed("RoVI wide start", () => RotationalVi.Fit(target, new RotationalViOptions { Threads = threads, Seed = Xoshiro256StarStar.Mix(stream, 6), InitialScale = WideScale }, checkpoints: For("wide")));
        double[] lmc = Timed("LMC", () => Langevin.Sample(target, [0.0, 0.0], draws, 5000, 0.01, Xoshiro256StarStar.Mix(stream, 4), threads));
        return (mfvi, rovi, wide, lmc);
    }

    // The theory's number beside a setting: Prop. 3.1's bound for two components of one covariance, the closed-form MFVI optimum for one.
    private static string BoundText(Setting s)
    {
        if (s.Weights.Length == 2 && s.Covariances.Take(4).SequenceEqual(s.Covariances.Skip(4)))
            return " Prop. 3.1 bound " + F(Math.Max(0, MeanFieldTheory.RotationBound(s.Means.AsSpan(0, 2), s.Means.AsSpan(2, 2), s.Covariances.AsSpan(0, 4)).Bound), 4) + "."; // ≥ 0 exactly; round-off gives −1e−17
        return s.Weights.Length == 1 ? " Closed-form MFVI optimum " + F(MeanFieldTheory.GaussianMeanFieldKl(s.Covariances, 2), 4) + "." : "";
    }

    /// <summary>
    /// Runs the experiment; <paramref name="threads"/> restarts (and Langevin blocks) run at once, without changing the
    /// numbers. <paramref name="progress"/> receives one line per finished setting.
    /// </summary>
    /// <exception cref="ArgumentException">Unknown name.</exception>
    /// <param name="name">"mode-collapse".</param>
    /// <param name="seed">Seed of every run.</param>
    /// <param name="threads">Restarts at once.</param>
    /// <param name="progress">One line per finished setting.</param>
    /// <param name="checkpoints">Where every restart of every fit keeps its checkpoint (resuming from it when there is one); null for none.</param>
    public static ExperimentOutput Run(string name, ulong seed = 0, int threads = 1, Action<string>? progress = null, CheckpointStore? checkpoints = null)
    {
        if (name != "mode-collapse") throw new ArgumentException($"unknown experiment '{name}'; expected one of {string.Join(", ", Names)}", nameof(name));
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        const int Draws = 10_000;
        var files = new Dictionary<string, string>();
        var summary = new List<string>();
        var rows = new List<string[]>();
        var csv = new StringBuilder("setting,method,free_energy,standard_error,restarts,mass_1,mass_2,w1_x,w1_y,angle_degrees\n");
        var timings = new StringBuilder("setting,method,seconds\n");
        var body = new StringBuilder();
        for (int index = 0; index < Settings.Count; index++)
        {
            Setting s = Settings[index];
            var target = GaussianMixtureTarget.Create(s.Weights, s.Means, CovarianceKind.Full, s.Covariances, $"setting {s.Name}");
            ulong stream = Xoshiro256StarStar.Mix(seed, (ulong)(10 * index));
            double[] exact = new double[Draws * 2];
            var exactRng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(stream, 1));
            for (int p = 0; p < Draws; p++) target.Sample(exactRng, exact.AsSpan(2 * p, 2));

            var (mfvi, rovi, wide, lmc) = FitAll(s, target, stream, threads, Draws, timings, checkpoints);

            double[] direction = s.Weights.Length == 2 ? [s.Means[2] - s.Means[0], s.Means[3] - s.Means[1]] : LeadingEigenvector(s.Covariances);
            string bound = BoundText(s);

            var panels = new List<Plots.PointPanel> { new("exact", exact, "#ffffff") };
            foreach (var (method, result, samples, color) in new (string, RotationalViResult?, double[]?, string)[]
                     { ("LMC", null, lmc, "#ff9f1c"), ("MFVI", mfvi, null, "#ff3030"), ("RoVI", rovi, null, "#4fa3ff"), (WideName, wide, null, "#2ca02c") })
            {
                double[] points = samples ?? result!.Best.Fit.Sample(new Xoshiro256StarStar(Xoshiro256StarStar.Mix(stream, 5)), Draws);
                double[] masses = s.Weights.Length == 2 ? ModeDiagnostics.ModeMasses(target, points, Draws) : [1.0];
                double[] w1 = ModeDiagnostics.MarginalWasserstein1(points, exact, Draws, 2);
                string massText = masses.Length == 2 ? $"{F(masses[0], 3)} / {F(masses[1], 3)}" : "—";
                string free = result is null ? "—" : $"{F(result.Best.FreeEnergy, 4)} ± {F(result.Best.StandardError, 4)}";
                string all = result is null ? "—" : string.Join(", ", result.Restarts.Select(r => r.FreeEnergy).Order().Select(v => F(v, 3)));
                double angle = result is not null && method != "MFVI" ? ModeDiagnostics.AlignmentAngle(result.Best.Fit.Rotation, direction) : double.NaN;
                rows.Add([s.Name, method, free, all, massText, $"{F(w1[0], 2)}, {F(w1[1], 2)}", double.IsNaN(angle) ? "—" : F(angle, 2) + "°",
                    method == "LMC" ? s.Paper : method == "MFVI" ? s.Prototype + "." + bound : method == WideName ? "(ours: wider start)" : ""]);
                csv.Append(string.Create(CultureInfo.InvariantCulture,
                    $"{s.Name},{method},{(result is null ? "" : result.Best.FreeEnergy.ToString("R", CultureInfo.InvariantCulture))},{(result is null ? "" : result.Best.StandardError.ToString("R", CultureInfo.InvariantCulture))},\"{all}\",{masses[0]:R},{(masses.Length == 2 ? masses[1] : 0):R},{w1[0]:R},{w1[1]:R},{(double.IsNaN(angle) ? "" : angle.ToString("R", CultureInfo.InvariantCulture))}\n"));
                panels.Add(new($"{method}{(result is null ? "" : ", F̂ " + F(result.Best.FreeEnergy, 3))}", points, color));
                foreach (string warning in result?.Best.Warnings ?? []) summary.Add($"{s.Name} {method}: warning: {warning}");
            }
            summary.Add($"{s.Name}: MFVI F̂ {F(mfvi.Best.FreeEnergy, 4)}, RoVI F̂ {F(rovi.Best.FreeEnergy, 4)} (restarts {string.Join(", ", rovi.Restarts.Select(r => r.FreeEnergy).Order().Select(v => F(v, 3)))}), with s₀ = {WideScale}: {F(wide.Best.FreeEnergy, 4)}.{bound}");
            progress?.Invoke(summary[^1]);
            string file = $"setting-{index + 1}.svg";
            files[file] = Plots.SamplesOverTarget(target, BoxAround(s), $"setting {s.Name}: {s.Paper}", panels);
            body.Append($"<h2>Setting {WebUtility.HtmlEncode(s.Name)}</h2>\n").Append(Html.Figure(file,
                "Draws of each method (the first 700) over the target's density: exact samples, Langevin, polyhedral MFVI, RoVI and RoVI from a wider start; F̂ is each fit's free energy (KL, log Z = 0)."));
        }
        body.Insert(0, Intro + Html.Table(["setting", "method", "F̂ ± SE (best restart)", "F̂ of every restart", "mode masses", "marginal W₁", "angle", "paper / prototype"], rows));
        files["results.csv"] = csv.ToString();
        files["timings.csv"] = timings.ToString();
        files["report.html"] = Html.Page("Mode collapse of mean-field VI and rotational VI (paper 003, Figure 3)", body.ToString());
        return new ExperimentOutput(name, files, summary);
    }

    /// <summary>Slope s₀ of the initial maps in the extra RoVI arm (the spec's start is s₀ = 1).</summary>
    public const double WideScale = 5;

    private const string WideName = "RoVI (s₀ = 5)";

    private static string F(double v, int digits) => v.ToString("F" + digits, CultureInfo.InvariantCulture);

    private static double[] LeadingEigenvector(double[] covariance)
    {
        var evd = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.DenseOfRowMajor(2, 2, covariance).Evd(MathNet.Numerics.LinearAlgebra.Symmetricity.Symmetric);
        return evd.EigenVectors.Column(1).ToArray(); // eigenvalues ascending
    }

    private static Box2D BoxAround(Setting s)
    {
        double xMin = double.PositiveInfinity, xMax = double.NegativeInfinity, yMin = double.PositiveInfinity, yMax = double.NegativeInfinity;
        for (int k = 0; k < s.Weights.Length; k++)
        {
            double sx = 3.5 * Math.Sqrt(s.Covariances[4 * k]), sy = 3.5 * Math.Sqrt(s.Covariances[4 * k + 3]);
            xMin = Math.Min(xMin, s.Means[2 * k] - sx); xMax = Math.Max(xMax, s.Means[2 * k] + sx);
            yMin = Math.Min(yMin, s.Means[2 * k + 1] - sy); yMax = Math.Max(yMax, s.Means[2 * k + 1] + sy);
        }
        double half = 0.5 * Math.Max(xMax - xMin, yMax - yMin), cx = 0.5 * (xMin + xMax), cy = 0.5 * (yMin + yMax);
        return new Box2D(cx - half, cx + half, cy - half, cy + half);
    }
}
