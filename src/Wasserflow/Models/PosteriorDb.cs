using System.IO.Compression;
using System.Text.Json;
using Wasserflow.Data;
using Wasserflow.Diagnostics;
using static Wasserflow.Models.SpecialFunctions;

namespace Wasserflow.Models;

/// <summary>A scalar log prior density and its derivative.</summary>
public delegate (double Log, double Derivative) ScalarPrior(double x);

/// <summary>
/// A posterior written directly on unconstrained coordinates u (log-Jacobians included), with the quantities its
/// reference draws report computed from u (e.g. σ = eˢ, θ = μ + τ θ̃). The layout names the coordinates of u.
/// </summary>
public sealed class UnconstrainedPosterior : Model
{
    private readonly ModelLogDensity _logDensity;
    private readonly Action<double[], double[]> _report;

    /// <summary>A posterior from its coordinates' names, its log density on u with gradient, and the reported quantities.</summary>
    public UnconstrainedPosterior(string name, IReadOnlyList<string> coordinates, ModelLogDensity logDensity, IReadOnlyList<string> reportedNames, Action<double[], double[]> report)
        : base(name, new ParameterLayout(coordinates.Select(c => new ParameterBlock(c, 1, Constraint.Real)).ToArray()))
    {
        _logDensity = logDensity ?? throw new ArgumentNullException(nameof(logDensity));
        _report = report ?? throw new ArgumentNullException(nameof(report));
        ReportedNames = reportedNames ?? throw new ArgumentNullException(nameof(reportedNames));
    }

    /// <inheritdoc/>
    public override IReadOnlyList<string> ReportedNames { get; }

    /// <summary>The posteriordb name and folder whose reference draws score a fit of this posterior, or null.</summary>
    public (string Name, string Folder)? Reference { get; init; }

    /// <inheritdoc/>
    public override double ConstrainedLogDensity(ReadOnlySpan<double> parameters, Span<double> gradient) => _logDensity(parameters, gradient);

    /// <summary>The same posterior, scored against the reference draws of <paramref name="name"/> in <paramref name="folder"/>.</summary>
    public UnconstrainedPosterior WithReference(string name, string folder) =>
        new(Name, Layout.Names, _logDensity, ReportedNames, _report) { Reference = (name, folder) };

    /// <inheritdoc/>
    public override void Report(ReadOnlySpan<double> parameters, Span<double> reported)
    {
        var result = new double[ReportedNames.Count];
        _report(parameters.ToArray(), result);
        result.CopyTo(reported);
    }
}

/// <summary>How a fit compares with a posterior's reference draws (docs/specs/posteriordb.md, "Scoring a fit").</summary>
/// <param name="MaxStandardisedMeanError">max_i |E_q x_i − m_i| / s_i.</param>
/// <param name="RmsStandardisedMeanError">The root mean square of the same.</param>
/// <param name="MinSdRatio">min_i sd_q(x_i) / s_i.</param>
/// <param name="MaxSdRatio">max_i sd_q(x_i) / s_i.</param>
/// <param name="WorstName">The quantity with the largest |mean error|.</param>
/// <param name="ReferenceDraws">Reference draws used.</param>
/// <param name="GaussianW2">W2 between the moment-matched Gaussians of the fit and of the reference, on coordinates standardised by the reference sds.</param>
public sealed record ReferenceScore(double MaxStandardisedMeanError, double RmsStandardisedMeanError, double MinSdRatio, double MaxSdRatio, string WorstName, int ReferenceDraws,
    double GaussianW2);

/// <summary>A reference posterior's moments of one quantity with their Monte Carlo errors.</summary>
/// <param name="Mean">Mean of the reference draws.</param>
/// <param name="Sd">Their sd.</param>
/// <param name="McseMean">s/√n: posteriordb's draws are thinned to be ≈ independent.</param>
/// <param name="McseSd">The delta method on the centred squares, √(Var(c²)/(4 s² n)).</param>
public sealed record ReferenceMoments(double Mean, double Sd, double McseMean, double McseSd)
{
    /// <summary>The moments of ≈ independent draws.</summary>
    public static ReferenceMoments Of(IReadOnlyList<double> draws)
    {
        ArgumentNullException.ThrowIfNull(draws);
        int n = draws.Count;
        double m = draws.Average(), variance = draws.Sum(v => (v - m) * (v - m)) / (n - 1);
        double squaresMean = draws.Average(v => (v - m) * (v - m));
        double squaresVariance = draws.Sum(v => Math.Pow((v - m) * (v - m) - squaresMean, 2)) / (n - 1);
        return new ReferenceMoments(m, Math.Sqrt(variance), Math.Sqrt(variance / n), Math.Sqrt(squaresVariance / (4 * squaresMean * n)));
    }
}

/// <summary>One parameter of an MCMC run against reference draws.</summary>
/// <param name="Name">The parameter.</param>
/// <param name="Mean">Our mean.</param>
/// <param name="ReferenceMean">The reference draws' mean.</param>
/// <param name="MeanZ">(mean − reference mean) / combined Monte Carlo error.</param>
/// <param name="Sd">Our sd.</param>
/// <param name="ReferenceSd">The reference draws' sd.</param>
/// <param name="SdZ">(sd − reference sd) / combined Monte Carlo error.</param>
public sealed record McmcAgreement(string Name, double Mean, double ReferenceMean, double MeanZ, double Sd, double ReferenceSd, double SdZ);

/// <summary>
/// The posteriordb posteriors of docs/specs/posteriordb.md as <see cref="Model"/>s from their data files, and their
/// reference draws for scoring a fit. Densities as the spec transcribes them (Stan's target with the constants it keeps),
/// on unconstrained coordinates with the Jacobians the spec lists.
/// </summary>
public static class PosteriorDb
{

    /// <summary>The posteriors this release builds.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        "sblri-blr", "kidiq-kidscore_momiq", "earnings-logearn_interaction", "mesquite-logmesquite_logvas", "nes1980-nes", "diamonds-diamonds",
        "eight_schools-eight_schools_noncentered", "arK-arK", "garch-garch11", "low_dim_gauss_mix-low_dim_gauss_mix", "gp_pois_regr-gp_pois_regr",
    ];

    /// <summary>
    /// Posteriors built beside the eleven of <see cref="Names"/>: the centred eight schools (the same joint posterior of
    /// θ, μ, τ as the non-centred one, written as θ_j ~ N(μ, τ²): the funnel Stan's users meet), which reads the
    /// non-centred posterior's data and is scored against its reference draws when it has no files of its own.
    /// </summary>
    public static IReadOnlyList<string> Extras { get; } = ["eight_schools-eight_schools_centered"];

    // The posterior whose data and reference draws a name falls back on.
    private static string FilesOf(string name, string folder) =>
        name == "eight_schools-eight_schools_centered" && !File.Exists(Path.Combine(folder, name + ".data.json")) ? "eight_schools-eight_schools_noncentered" : name;

    /// <summary>The posterior <paramref name="name"/> (one of <see cref="Names"/> or <see cref="Extras"/>) from <paramref name="folder"/>/&lt;name&gt;.data.json.</summary>
    /// <exception cref="DataFormatException">Unknown name, missing file or field (named).</exception>
    public static UnconstrainedPosterior Load(string name, string folder)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(folder);
        if (!Names.Contains(name) && !Extras.Contains(name))
        {
            IReadOnlyList<string> all = [.. Names, .. Extras];
            // "eight_schools" names its posterior by prefix; otherwise the nearest name by edit distance.
            string? near = all.FirstOrDefault(n => n.StartsWith(name, StringComparison.OrdinalIgnoreCase)) ?? Parameters.ParameterRecords.Closest(name, all);
            throw new DataFormatException($"unknown posteriordb posterior '{name}'{(near is null ? "" : $" (did you mean '{near}'?)")}; the posteriors are: {string.Join(", ", all)}.");
        }
        string files = FilesOf(name, folder);
        string path = Path.Combine(folder, files + ".data.json");
        if (!File.Exists(path)) throw new DataFormatException($"{path}: no such data file (give the posteriordb folder with --posteriordb).");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var data = new JsonData(path, doc.RootElement);
        UnconstrainedPosterior model = name switch
        {
            "sblri-blr" => SblriBlr(data),
            "kidiq-kidscore_momiq" => Kidiq(data),
            "earnings-logearn_interaction" => Earnings(data),
            "mesquite-logmesquite_logvas" => Mesquite(data),
            "nes1980-nes" => Nes(data),
            "diamonds-diamonds" => Diamonds(data),
            "eight_schools-eight_schools_noncentered" => EightSchools(data),
            "eight_schools-eight_schools_centered" => EightSchoolsCentred(data),
            "arK-arK" => ArK(data),
            "garch-garch11" => Garch(data),
            "low_dim_gauss_mix-low_dim_gauss_mix" => GaussMix(data),
            _ => GpPoisRegr(data),
        };
        return File.Exists(Path.Combine(folder, files + ".draws.json.zip")) ? model.WithReference(files, folder) : model;
    }

    /// <summary>The reference draws of <paramref name="name"/> (&lt;name&gt;.draws.json.zip): every chain concatenated, by reported name.</summary>
    /// <exception cref="DataFormatException">Missing or malformed file.</exception>
    public static Dictionary<string, double[]> ReferenceDraws(string name, string folder)
    {
        string path = Path.Combine(folder, name + ".draws.json.zip");
        if (!File.Exists(path)) throw new DataFormatException($"{path}: no such reference-draws file.");
        using ZipArchive zip = ZipFile.OpenRead(path);
        ZipArchiveEntry entry = zip.Entries.FirstOrDefault() ?? throw new DataFormatException($"{path}: the archive is empty.");
        using Stream stream = entry.Open();
        using var doc = JsonDocument.Parse(stream);
        var draws = new Dictionary<string, List<double>>();
        foreach (JsonElement chain in doc.RootElement.EnumerateArray())
            foreach (JsonProperty p in chain.EnumerateObject())
            {
                if (!draws.TryGetValue(p.Name, out var list)) draws[p.Name] = list = [];
                list.AddRange(p.Value.EnumerateArray().Select(v => v.GetDouble()));
            }
        return draws.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());
    }

    /// <summary>Scores draws of a fit (rows of the reported quantities, in <paramref name="names"/>' order) against reference draws.</summary>
    /// <exception cref="DataFormatException">A reported quantity has no reference draws.</exception>
    public static ReferenceScore Score(IReadOnlyList<string> names, ReadOnlySpan<double> draws, int count, IReadOnlyDictionary<string, double[]> reference)
    {
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(reference);
        int d = names.Count;
        double maxError = 0, sumSquares = 0, minRatio = double.PositiveInfinity, maxRatio = 0;
        string worst = "";
        int referenceCount = 0;
        var columns = new double[d][];
        var scale = new double[d];
        for (int j = 0; j < d; j++)
        {
            if (!reference.TryGetValue(names[j], out double[]? r)) throw new DataFormatException($"the reference draws have no '{names[j]}'.");
            referenceCount = r.Length;
            double m = r.Average(), s = Math.Sqrt(r.Sum(v => (v - m) * (v - m)) / (r.Length - 1));
            (columns[j], scale[j]) = (r, s);
            double qm = 0;
            for (int i = 0; i < count; i++) qm += draws[i * d + j] / count;
            double qv = 0;
            for (int i = 0; i < count; i++) qv += (draws[i * d + j] - qm) * (draws[i * d + j] - qm) / (count - 1);
            double e = Math.Abs(qm - m) / s, ratio = Math.Sqrt(qv) / s;
            if (e > maxError) (maxError, worst) = (e, names[j]);
            sumSquares += e * e;
            minRatio = Math.Min(minRatio, ratio);
            maxRatio = Math.Max(maxRatio, ratio);
        }
        // Moment-matched Gaussians on coordinates standardised by the reference sds.
        var (refMean, refCov) = Moments(j => columns[j], referenceCount, d, scale);
        double[] fitDraws = draws[..(count * d)].ToArray();
        var (fitMean, fitCov) = Moments(j => [.. Enumerable.Range(0, count).Select(i => fitDraws[i * d + j])], count, d, scale);
        return new ReferenceScore(maxError, Math.Sqrt(sumSquares / d), minRatio, maxRatio, worst, referenceCount, GaussianW2(fitMean, fitCov, refMean, refCov, d));
    }

    /// <summary>
    /// MCMC draws against reference moments, parameter by parameter: z-scores of the mean and the sd, each difference
    /// divided by the combined Monte Carlo error — ours from our ESS (<see cref="McmcParameterSummary.McseMean"/>,
    /// <see cref="McmcParameterSummary.McseSd"/>), the reference's from <see cref="ReferenceMoments.Of"/>.
    /// </summary>
    /// <exception cref="DataFormatException">A summarised quantity has no reference.</exception>
    public static IReadOnlyList<McmcAgreement> CompareMcmc(IReadOnlyList<McmcParameterSummary> summaries, IReadOnlyDictionary<string, ReferenceMoments> reference)
    {
        ArgumentNullException.ThrowIfNull(summaries);
        ArgumentNullException.ThrowIfNull(reference);
        var result = new List<McmcAgreement>(summaries.Count);
        foreach (McmcParameterSummary p in summaries)
        {
            if (!reference.TryGetValue(p.Name, out ReferenceMoments? r)) throw new DataFormatException($"the reference has no '{p.Name}'.");
            result.Add(new McmcAgreement(p.Name, p.Mean, r.Mean, (p.Mean - r.Mean) / Math.Sqrt(p.McseMean * p.McseMean + r.McseMean * r.McseMean),
                p.Sd, r.Sd, (p.Sd - r.Sd) / Math.Sqrt(p.McseSd * p.McseSd + r.McseSd * r.McseSd)));
        }
        return result;
    }

    // Mean and covariance of d columns of n values each, every column divided by its scale.
    private static (double[] Mean, double[] Covariance) Moments(Func<int, double[]> column, int n, int d, double[] scale)
    {
        double[][] z = [.. Enumerable.Range(0, d).Select(j => column(j).Select(v => v / scale[j]).ToArray())];
        double[] mean = [.. z.Select(c => c.Average())];
        var cov = new double[d * d];
        for (int a = 0; a < d; a++)
            for (int b = 0; b <= a; b++)
            {
                double sum = 0;
                for (int i = 0; i < n; i++) sum += (z[a][i] - mean[a]) * (z[b][i] - mean[b]);
                cov[a * d + b] = cov[b * d + a] = sum / (n - 1);
            }
        return (mean, cov);
    }

    /// <summary>
    /// W2 between N(m₁, Σ₁) and N(m₂, Σ₂): W2² = ‖m₁ − m₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₂^½ Σ₁ Σ₂^½)^½ (d×d row-major).
    /// </summary>
    public static double GaussianW2(ReadOnlySpan<double> mean1, ReadOnlySpan<double> covariance1, ReadOnlySpan<double> mean2, ReadOnlySpan<double> covariance2, int d)
    {
        var root2 = new double[d * d];
        LinearAlgebra.Dense.SymmetricFunction(covariance2, d, v => Math.Sqrt(Math.Max(v, 0)), root2);
        var product = new double[d * d];
        var temp = new double[d * d];
        LinearAlgebra.Dense.Multiply(root2, covariance1, d, temp);
        LinearAlgebra.Dense.Multiply(temp, root2, d, product);
        for (int a = 0; a < d; a++)
            for (int b = 0; b < a; b++) product[a * d + b] = product[b * d + a] = 0.5 * (product[a * d + b] + product[b * d + a]);
        var root = new double[d * d];
        LinearAlgebra.Dense.SymmetricFunction(product, d, v => Math.Sqrt(Math.Max(v, 0)), root);
        double w2 = 0;
        for (int i = 0; i < d; i++)
            w2 += (mean1[i] - mean2[i]) * (mean1[i] - mean2[i]) + covariance1[i * d + i] + covariance2[i * d + i] - 2 * root[i * d + i];
        return Math.Sqrt(Math.Max(w2, 0));
    }

    // ---- priors ----

    /// <summary>A flat (improper) prior.</summary>
    public static ScalarPrior Flat { get; } = _ => (0, 0);

    /// <summary>N(m, s²), constants kept.</summary>
    public static ScalarPrior Normal(double m, double s) => x => (-HalfLog2Pi - Math.Log(s) - 0.5 * (x - m) * (x - m) / (s * s), -(x - m) / (s * s));

    /// <summary>N(m, s²) without its constants.</summary>
    public static ScalarPrior NormalKernel(double m, double s) => x => (-0.5 * (x - m) * (x - m) / (s * s), -(x - m) / (s * s));

    /// <summary>Half-Cauchy(0, s) without its constant: −log(1 + (x/s)²).</summary>
    public static ScalarPrior HalfCauchyKernel(double s) => x => (-Math.Log(1 + x * x / (s * s)), -2 * x / (s * s + x * x));

    /// <summary>Student t(ν, m, s), constants kept.</summary>
    public static ScalarPrior StudentT(double nu, double m, double s)
    {
        double c = LogGamma((nu + 1) / 2) - LogGamma(nu / 2) - 0.5 * Math.Log(nu * Math.PI) - Math.Log(s);
        return x =>
        {
            double z = (x - m) / s, q = 1 + z * z / nu;
            return (c - (nu + 1) / 2 * Math.Log(q), -(nu + 1) / nu * z / (s * q));
        };
    }

    /// <summary>
    /// The Gaussian linear model template of the spec on u = (β, log σ): Σ log π(β_j) + log π(σ) − N log σ − RSS/(2σ²)
    /// [− (N/2) log 2π when <paramref name="likelihoodConstant"/>] + log σ (Jacobian). Names: β's reported names, then σ's.
    /// </summary>
    public static UnconstrainedPosterior Linear(string name, double[] x, double[] y, IReadOnlyList<ScalarPrior> betaPriors, ScalarPrior sigmaPrior,
        IReadOnlyList<string> betaNames, string sigmaName = "sigma", bool likelihoodConstant = false, double extraConstant = 0)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(betaPriors);
        int n = y.Length, p = betaPriors.Count;
        if (x.Length != n * p) throw new ArgumentException($"{name}: the design has {x.Length} numbers, not {n}×{p}.");
        double[] xt = new double[x.Length];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < p; j++) xt[j * n + i] = x[i * p + j];
        string[] coordinates = [.. betaNames, "log_" + sigmaName];
        return new UnconstrainedPosterior(name, coordinates, (u, g) =>
        {
            double s = u[p], sigma = Math.Exp(s);
            double[] rented = System.Buffers.ArrayPool<double>.Shared.Rent(n);
            Span<double> r = rented.AsSpan(0, n);
            // Xβ column by column (p long vector updates, as RegressionModel does) rather than n short dot products,
            // whose per-call overhead dominated at diamonds' 5,000 × 26.
            r.Clear();
            for (int j = 0; j < p; j++) System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(xt.AsSpan(j * n, n), u[j], r, r);
            System.Numerics.Tensors.TensorPrimitives.Subtract(y, r, r);
            double rss = LinearAlgebra.Reductions.SumOfSquares(r);
            double value = extraConstant - n * s - rss / (2 * sigma * sigma) + s - (likelihoodConstant ? n * HalfLog2Pi : 0);
            double inv = 1 / (sigma * sigma);
            for (int j = 0; j < p; j++)
            {
                var (lp, dlp) = betaPriors[j](u[j]);
                value += lp;
                g[j] = LinearAlgebra.Reductions.Dot(xt.AsSpan(j * n, n), r) * inv + dlp;
            }
            var (ls, dls) = sigmaPrior(sigma);
            value += ls;
            g[p] = dls * sigma - n + rss * inv + 1;
            System.Buffers.ArrayPool<double>.Shared.Return(rented);
            return value;
        }, [.. betaNames, sigmaName], (u, rep) =>
        {
            for (int j = 0; j < p; j++) rep[j] = u[j];
            rep[p] = Math.Exp(u[p]);
        });
    }

    private static string[] Indexed(string name, int count) => [.. Enumerable.Range(1, count).Select(i => $"{name}[{i}]")];

    private static UnconstrainedPosterior SblriBlr(JsonData data)
    {
        double[] y = data.Vector("y"), x = data.Matrix("X", out int cols);
        return Linear("sblri-blr", x, y, [.. Enumerable.Repeat(Normal(0, 10), cols)], Normal(0, 10), Indexed("beta", cols), likelihoodConstant: true);
    }

    private static UnconstrainedPosterior Kidiq(JsonData data)
    {
        double[] y = data.Vector("kid_score"), iq = data.Vector("mom_iq");
        double[] x = [.. iq.SelectMany(v => new[] { 1.0, v })];
        return Linear("kidiq-kidscore_momiq", x, y, [Flat, Flat], HalfCauchyKernel(2.5), Indexed("beta", 2));
    }

    private static UnconstrainedPosterior Earnings(JsonData data)
    {
        double[] earn = data.Vector("earn"), height = data.Vector("height"), male = data.Vector("male");
        double[] x = [.. Enumerable.Range(0, earn.Length).SelectMany(i => new[] { 1.0, height[i], male[i], height[i] * male[i] })];
        return Linear("earnings-logearn_interaction", x, [.. earn.Select(v => Math.Log(v))], [Flat, Flat, Flat, Flat], Flat, Indexed("beta", 4));
    }

    private static UnconstrainedPosterior Mesquite(JsonData data)
    {
        double[] w = data.Vector("weight"), d1 = data.Vector("diam1"), d2 = data.Vector("diam2"), ch = data.Vector("canopy_height"),
            th = data.Vector("total_height"), den = data.Vector("density"), grp = data.Vector("group");
        double[] x = [.. Enumerable.Range(0, w.Length).SelectMany(i => new[]
        {
            1.0, Math.Log(d1[i] * d2[i] * ch[i]), Math.Log(d1[i] * d2[i]), Math.Log(d1[i] / d2[i]), Math.Log(th[i]), Math.Log(den[i]), grp[i],
        })];
        return Linear("mesquite-logmesquite_logvas", x, [.. w.Select(v => Math.Log(v))], [.. Enumerable.Repeat(Flat, 7)], Flat, Indexed("beta", 7));
    }

    private static UnconstrainedPosterior Nes(JsonData data)
    {
        double[] y = data.Vector("partyid7"), ideo = data.Vector("real_ideo"), race = data.Vector("race_adj"), educ = data.Vector("educ1"),
            gender = data.Vector("gender"), income = data.Vector("income"), age = data.Vector("age_discrete");
        double[] x = [.. Enumerable.Range(0, y.Length).SelectMany(i => new[]
        {
            1.0, ideo[i], race[i], age[i] == 2 ? 1 : 0, age[i] == 3 ? 1 : 0, age[i] == 4 ? 1 : 0, educ[i], gender[i], income[i],
        })];
        return Linear("nes1980-nes", x, y, [.. Enumerable.Repeat(Flat, 9)], Flat, Indexed("beta", 9));
    }

    private static UnconstrainedPosterior Diamonds(JsonData data)
    {
        double[] y = data.Vector("Y"), raw = data.Matrix("X", out int k);
        int n = y.Length, p = k - 1;
        var means = new double[p];
        for (int i = 0; i < n; i++)
            for (int j = 1; j < k; j++) means[j - 1] += raw[i * k + j] / n;
        // Design (Xc, 1): b first, then the intercept a of the centred predictors, as the draws name them.
        double[] x = [.. Enumerable.Range(0, n).SelectMany(i => Enumerable.Range(1, p).Select(j => raw[i * k + j] - means[j - 1]).Append(1.0))];
        ScalarPrior t = StudentT(3, 0, 10);
        ScalarPrior halfT = s => { var (l, dl) = t(s); return (l + Math.Log(2), dl); };
        return Linear("diamonds-diamonds", x, y, [.. Enumerable.Repeat(Normal(0, 1), p), StudentT(3, 8, 10)], halfT, [.. Indexed("b", p), "Intercept"], likelihoodConstant: true);
    }

    private static UnconstrainedPosterior EightSchools(JsonData data)
    {
        double[] y = data.Vector("y"), s = data.Vector("sigma");
        int j = y.Length;
        // u = (θ̃_1..J, μ, log τ).
        return new UnconstrainedPosterior("eight_schools-eight_schools_noncentered", [.. Indexed("theta_tilde", j), "mu", "log_tau"], (u, g) =>
        {
            double mu = u[j], t = u[j + 1], tau = Math.Exp(t);
            double value = -mu * mu / 50 - Math.Log(1 + tau * tau / 25) + t;
            double dmu = -mu / 25, dtau = -2 * tau / (25 + tau * tau);
            for (int i = 0; i < j; i++)
            {
                double r = (y[i] - mu - tau * u[i]) / s[i];
                value += -0.5 * u[i] * u[i] - 0.5 * r * r;
                g[i] = -u[i] + r / s[i] * tau;
                dmu += r / s[i];
                dtau += r / s[i] * u[i];
            }
            g[j] = dmu;
            g[j + 1] = dtau * tau + 1;
            return value;
        }, [.. Indexed("theta", j), "mu", "tau"], (u, rep) =>
        {
            double tau = Math.Exp(u[j + 1]);
            for (int i = 0; i < j; i++) rep[i] = u[j] + tau * u[i];
            rep[j] = u[j];
            rep[j + 1] = tau;
        });
    }

    private static UnconstrainedPosterior EightSchoolsCentred(JsonData data)
    {
        double[] y = data.Vector("y"), s = data.Vector("sigma");
        int j = y.Length;
        // u = (θ_1..J, μ, log τ); the non-centred density minus J log τ (its Jacobian), so the constants and ELBOs agree.
        return new UnconstrainedPosterior("eight_schools-eight_schools_centered", [.. Indexed("theta", j), "mu", "log_tau"], (u, g) =>
        {
            double mu = u[j], t = u[j + 1], tau = Math.Exp(t), precision = 1 / (tau * tau);
            double value = -mu * mu / 50 - Math.Log(1 + tau * tau / 25) + t - j * t;
            double dmu = -mu / 25, dt = -2 * tau * tau / (25 + tau * tau) + 1 - j;
            for (int i = 0; i < j; i++)
            {
                double z = u[i] - mu, r = (y[i] - u[i]) / s[i];
                value += -0.5 * z * z * precision - 0.5 * r * r;
                g[i] = -z * precision + r / s[i];
                dmu += z * precision;
                dt += z * z * precision;
            }
            g[j] = dmu;
            g[j + 1] = dt;
            return value;
        }, [.. Indexed("theta", j), "mu", "tau"], (u, rep) =>
        {
            for (int i = 0; i < j; i++) rep[i] = u[i];
            rep[j] = u[j];
            rep[j + 1] = Math.Exp(u[j + 1]);
        });
    }

    private static UnconstrainedPosterior ArK(JsonData data)
    {
        double[] y = data.Vector("y");
        int k = (int)data.Scalar("K"), T = y.Length;
        // As a linear model: rows t = K+1..T, design (1, y_{t−1}, …, y_{t−K}).
        double[] x = [.. Enumerable.Range(k, T - k).SelectMany(t => Enumerable.Range(0, k + 1).Select(c => c == 0 ? 1.0 : y[t - c]))];
        return Linear("arK-arK", x, y[k..], [.. Enumerable.Repeat(NormalKernel(0, 10), k + 1)], HalfCauchyKernel(2.5), ["alpha", .. Indexed("beta", k)]);
    }

    private static UnconstrainedPosterior Garch(JsonData data)
    {
        double[] y = data.Vector("y");
        double sigma1 = data.Scalar("sigma1");
        int T = y.Length;
        // u = (μ, log α₀, logit α₁, logit w) with β₁ = (1 − α₁) w.
        return new UnconstrainedPosterior("garch-garch11", ["mu", "log_alpha0", "logit_alpha1", "logit_w"], (u, g) =>
        {
            double mu = u[0], a0 = Math.Exp(u[1]), a1 = Sigmoid(u[2]), w = Sigmoid(u[3]), b1 = (1 - a1) * w;
            // Forward recursion with derivatives of h_t in (μ, α₀, α₁, β₁).
            double h = sigma1 * sigma1, dhMu = 0, dhA0 = 0, dhA1 = 0, dhB1 = 0;
            double value = 0, gMu = 0, gA0 = 0, gA1 = 0, gB1 = 0;
            for (int t = 0; t < T; t++)
            {
                if (t > 0)
                {
                    double e = y[t - 1] - mu;
                    double nh = a0 + a1 * e * e + b1 * h;
                    dhMu = -2 * a1 * e + b1 * dhMu;
                    dhA0 = 1 + b1 * dhA0;
                    dhA1 = e * e + b1 * dhA1;
                    dhB1 = h + b1 * dhB1;
                    h = nh;
                }
                double r = y[t] - mu;
                value += -0.5 * Math.Log(h) - r * r / (2 * h);
                double dh = -0.5 / h + r * r / (2 * h * h); // ∂/∂h
                gMu += r / h + dh * dhMu;
                gA0 += dh * dhA0;
                gA1 += dh * dhA1;
                gB1 += dh * dhB1;
            }
            // Jacobian: u₂ + log α₁ + log(1 − α₁) + log(1 − α₁) + log w + log(1 − w).
            value += u[1] + Math.Log(a1) + 2 * Math.Log(1 - a1) + Math.Log(w) + Math.Log(1 - w);
            g[0] = gMu;
            g[1] = gA0 * a0 + 1;
            // α₁ = σ(u₃) moves β₁ = (1 − α₁) w too: ∂β₁/∂α₁ = −w.
            double da1 = a1 * (1 - a1);
            g[2] = (gA1 - gB1 * w) * da1 + (1 - a1) - 2 * a1;
            g[3] = gB1 * (1 - a1) * w * (1 - w) + (1 - 2 * w);
            return value;
        }, ["mu", "alpha0", "alpha1", "beta1"], (u, rep) =>
        {
            double a1 = Sigmoid(u[2]);
            rep[0] = u[0];
            rep[1] = Math.Exp(u[1]);
            rep[2] = a1;
            rep[3] = (1 - a1) * Sigmoid(u[3]);
        });
    }

    private static UnconstrainedPosterior GaussMix(JsonData data)
    {
        double[] y = data.Vector("y");
        // u = (a, b, log σ₁, log σ₂, logit θ) with μ₁ = a, μ₂ = a + eᵇ.
        return new UnconstrainedPosterior("low_dim_gauss_mix-low_dim_gauss_mix", ["mu1", "log_gap", "log_sigma1", "log_sigma2", "logit_theta"], (u, g) =>
        {
            double m1 = u[0], gap = Math.Exp(u[1]), m2 = m1 + gap, s1 = Math.Exp(u[2]), s2 = Math.Exp(u[3]), th = Sigmoid(u[4]);
            double value = 0, gm1 = 0, gm2 = 0, gs1 = 0, gs2 = 0, gth = 0;
            foreach (double v in y)
            {
                double z1 = (v - m1) / s1, z2 = (v - m2) / s2;
                double l1 = Math.Log(th) - HalfLog2Pi - u[2] - 0.5 * z1 * z1, l2 = Math.Log(1 - th) - HalfLog2Pi - u[3] - 0.5 * z2 * z2;
                double top = Math.Max(l1, l2), lse = top + Math.Log(Math.Exp(l1 - top) + Math.Exp(l2 - top));
                double w1 = Math.Exp(l1 - lse), w2 = Math.Exp(l2 - lse);
                value += lse;
                gm1 += w1 * z1 / s1;
                gm2 += w2 * z2 / s2;
                gs1 += w1 * (z1 * z1 - 1); // ∂/∂ log σ₁
                gs2 += w2 * (z2 * z2 - 1);
                gth += w1 / th - w2 / (1 - th);
            }
            value += -(m1 * m1 + m2 * m2) / 8 - (s1 * s1 + s2 * s2) / 8 + 4 * Math.Log(th) + 4 * Math.Log(1 - th);
            gm1 += -m1 / 4;
            gm2 += -m2 / 4;
            gs1 += -s1 * s1 / 4;
            gs2 += -s2 * s2 / 4;
            gth += 4 / th - 4 / (1 - th);
            // Jacobians: b, log σ₁, log σ₂ (as u₂..u₄), log θ + log(1 − θ).
            value += u[1] + u[2] + u[3] + Math.Log(th) + Math.Log(1 - th);
            g[0] = gm1 + gm2;
            g[1] = gm2 * gap + 1;
            g[2] = gs1 + 1;
            g[3] = gs2 + 1;
            g[4] = gth * th * (1 - th) + 1 - 2 * th;
            return value;
        }, ["mu[1]", "mu[2]", "sigma[1]", "sigma[2]", "theta"], (u, rep) =>
        {
            rep[0] = u[0];
            rep[1] = u[0] + Math.Exp(u[1]);
            rep[2] = Math.Exp(u[2]);
            rep[3] = Math.Exp(u[3]);
            rep[4] = Sigmoid(u[4]);
        });
    }

    private static UnconstrainedPosterior GpPoisRegr(JsonData data)
    {
        double[] xs = data.Vector("x"), k = data.Vector("k");
        int n = xs.Length;
        // u = (log ρ, log α, f̃_1..N); f = L f̃ with L L ᵀ = K(ρ, α).
        return new UnconstrainedPosterior("gp_pois_regr-gp_pois_regr", ["log_rho", "log_alpha", .. Indexed("f_tilde", n)], (u, g) =>
        {
            double rho = Math.Exp(u[0]), alpha = Math.Exp(u[1]);
            ReadOnlySpan<double> ft = u[2..];
            var (l, dlRho, dlAlpha) = KernelCholesky(xs, rho, alpha);
            double value = 24 * Math.Log(rho) - 4 * rho - alpha * alpha / 8 + u[0] + u[1];
            double gRho = 24 / rho - 4, gAlpha = -alpha / 4;
            var f = new double[n];
            var df = new double[n]; // ∂/∂f_i of the likelihood
            for (int i = 0; i < n; i++)
            {
                for (int c = 0; c <= i; c++) f[i] += l[i * n + c] * ft[c];
                value += k[i] * f[i] - Math.Exp(f[i]);
                df[i] = k[i] - Math.Exp(f[i]);
            }
            for (int c = 0; c < n; c++)
            {
                value += -0.5 * ft[c] * ft[c];
                double s = -ft[c];
                for (int i = c; i < n; i++) s += l[i * n + c] * df[i];
                g[2 + c] = s;
            }
            // ∂f/∂ρ = (∂L/∂ρ) f̃, the same for α.
            for (int i = 0; i < n; i++)
            {
                double a = 0, b = 0;
                for (int c = 0; c <= i; c++)
                {
                    a += dlRho[i * n + c] * ft[c];
                    b += dlAlpha[i * n + c] * ft[c];
                }
                gRho += df[i] * a;
                gAlpha += df[i] * b;
            }
            g[0] = gRho * rho + 1;
            g[1] = gAlpha * alpha + 1;
            return value;
        }, ["rho", "alpha", .. Indexed("f", n)], (u, rep) =>
        {
            double rho = Math.Exp(u[0]), alpha = Math.Exp(u[1]);
            var (l, _, _) = KernelCholesky(xs, rho, alpha);
            rep[0] = rho;
            rep[1] = alpha;
            for (int i = 0; i < n; i++)
            {
                double f = 0;
                for (int c = 0; c <= i; c++) f += l[i * n + c] * u[2 + c];
                rep[2 + i] = f;
            }
        });
    }

    // L = chol(K) for K_ij = α² exp(−(x_i − x_j)²/(2ρ²)) + 1e−10 δ_ij, and ∂L/∂ρ, ∂L/∂α by differentiating the
    // Cholesky recursion (forward mode, one pass per parameter).
    private static (double[] L, double[] DRho, double[] DAlpha) KernelCholesky(double[] x, double rho, double alpha)
    {
        int n = x.Length;
        var k = new double[n * n];
        var dkRho = new double[n * n];
        var dkAlpha = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
            {
                double d2 = (x[i] - x[j]) * (x[i] - x[j]), e = Math.Exp(-d2 / (2 * rho * rho));
                k[i * n + j] = alpha * alpha * e + (i == j ? 1e-10 : 0);
                dkRho[i * n + j] = alpha * alpha * e * d2 / (rho * rho * rho);
                dkAlpha[i * n + j] = 2 * alpha * e;
            }
        var l = new double[n * n];
        var dl1 = new double[n * n];
        var dl2 = new double[n * n];
        for (int j = 0; j < n; j++)
        {
            double s = k[j * n + j], s1 = dkRho[j * n + j], s2 = dkAlpha[j * n + j];
            for (int c = 0; c < j; c++)
            {
                s -= l[j * n + c] * l[j * n + c];
                s1 -= 2 * l[j * n + c] * dl1[j * n + c];
                s2 -= 2 * l[j * n + c] * dl2[j * n + c];
            }
            if (!(s > 0)) throw new Targets.TargetEvaluationException($"gp_pois_regr: the kernel matrix is not positive definite at rho = {rho}, alpha = {alpha}");
            double ljj = Math.Sqrt(s);
            l[j * n + j] = ljj;
            dl1[j * n + j] = s1 / (2 * ljj);
            dl2[j * n + j] = s2 / (2 * ljj);
            for (int i = j + 1; i < n; i++)
            {
                double t = k[i * n + j], t1 = dkRho[i * n + j], t2 = dkAlpha[i * n + j];
                for (int c = 0; c < j; c++)
                {
                    t -= l[i * n + c] * l[j * n + c];
                    t1 -= dl1[i * n + c] * l[j * n + c] + l[i * n + c] * dl1[j * n + c];
                    t2 -= dl2[i * n + c] * l[j * n + c] + l[i * n + c] * dl2[j * n + c];
                }
                l[i * n + j] = t / ljj;
                dl1[i * n + j] = (t1 - l[i * n + j] * dl1[j * n + j]) / ljj;
                dl2[i * n + j] = (t2 - l[i * n + j] * dl2[j * n + j]) / ljj;
            }
        }
        return (l, dl1, dl2);
    }



    // A JSON data file's fields, each error naming the file and the field.
    private sealed class JsonData(string path, JsonElement root)
    {
        public double Scalar(string name) => Field(name).ValueKind == JsonValueKind.Number ? Field(name).GetDouble()
            : throw new DataFormatException($"{path}: field '{name}' should be a number.");

        public double[] Vector(string name)
        {
            JsonElement e = Field(name);
            if (e.ValueKind != JsonValueKind.Array) throw new DataFormatException($"{path}: field '{name}' should be an array of numbers.");
            return [.. e.EnumerateArray().Select(v => v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw new DataFormatException($"{path}: field '{name}' holds a non-number."))];
        }

        public double[] Matrix(string name, out int columns)
        {
            JsonElement e = Field(name);
            var rows = e.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetDouble()).ToArray()).ToList();
            columns = rows.Count > 0 ? rows[0].Length : 0;
            int width = columns;
            if (rows.Any(r => r.Length != width)) throw new DataFormatException($"{path}: field '{name}' is not a rectangular matrix.");
            return [.. rows.SelectMany(r => r)];
        }

        private JsonElement Field(string name) => root.TryGetProperty(name, out JsonElement e) ? e
            : throw new DataFormatException($"{path}: no field '{name}'.");
    }
}
