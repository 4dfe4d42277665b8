using System.Diagnostics;
using System.Globalization;
using System.Text;
using Wasserflow.Diagnostics;
using Wasserflow.Expectations;
using Wasserflow.Families;
using Wasserflow.Flows;
using Wasserflow.Models;
using Wasserflow.Parameters;
using Wasserflow.Randomness;
using Wasserflow.Reports;
using Wasserflow.Running;
using Wasserflow.Targets;

namespace Wasserflow.Experiments;

/// <summary>Where the mixtures of the posteriors experiment start.</summary>
public sealed class PosteriorStarts : INamedChoices
{
    /// <inheritdoc/>
    public static string Noun => "start";

    /// <inheritdoc/>
    public static IReadOnlyList<NamedChoice> Choices { get; } =
    [
        new("laplace", "Laplace-whitened coordinates, components 1 sd around the mode (the tool's default for models)"),
        new("paper", "the paper's Table 1: raw coordinates, means uniform in [-20, 20]^d, variances 10"),
    ];
}

/// <summary>The settings of <c>wasserflow experiment posteriors</c> (paper 000, Section 6 and Figures 4 and 10).</summary>
public sealed record PosteriorsSettings
{
    /// <summary>The data sets, comma-separated.</summary>
    [Parameter("data sets, comma-separated: breast_cancer (logistic regression, 30 predictors, no intercept), wine (softmax regression, 3 classes, 13 predictors, class 0 the reference), boston (neural network, 50 ReLU units, noise variance 10)")]
    public string Datasets { get; init; } = "breast_cancer,wine,boston";

    /// <summary>The methods, comma-separated.</summary>
    [Parameter("methods, comma-separated: ibw, md, ngd (N isotropic components), bw-particles (N full-covariance Gaussians, randomised cubature), advi-mf, advi-fr (Stan's defaults), nuts (4 × 1000 draws, the reference)")]
    public string Methods { get; init; } = "ibw,md,ngd,bw-particles,advi-mf,advi-fr,nuts";

    /// <summary>N, components of the mixtures.</summary>
    [Parameter("N, components of the mixtures", Alias = "-n", Minimum = 1, Maximum = 100)]
    public int Components { get; init; } = 5;

    /// <summary>Iterations of the mixture flows.</summary>
    [Parameter("iterations of the mixture flows (ADVI runs Stan's 10,000 with its stop)", Minimum = 1, Maximum = 10_000_000)]
    public long Iterations { get; init; } = 2000;

    /// <summary>Evaluate the mixtures every k iterations.</summary>
    [Parameter("evaluate the mixtures (accuracy, log-likelihood, KL on train and test) every k iterations", Minimum = 1)]
    public int EvaluateEvery { get; init; } = 100;

    /// <summary>Draws per evaluation.</summary>
    [Parameter("draws of the fit per evaluation", Minimum = 10, Maximum = 1_000_000)]
    public int Draws { get; init; } = 1000;

    /// <summary>Step size γ (h) of the mixture flows.</summary>
    [Parameter("step size γ (h) of the mixture flows (the paper's Table 1: 0.01 with --start paper)", Minimum = 0, ExclusiveMinimum = true)]
    public double StepSize { get; init; } = 0.05;

    /// <summary>Step size of the mixtures on the neural network (raw coordinates).</summary>
    [Parameter("step size γ of the mixtures on the neural network, which has no usable Laplace approximation and runs in raw coordinates from means uniform in [-0.5, 0.5]^d, variances 0.01", Minimum = 0, ExclusiveMinimum = true)]
    public double BnnStepSize { get; init; } = 1e-3;

    /// <summary>Where the mixtures start.</summary>
    [Parameter("where the mixtures start", Choices = typeof(PosteriorStarts))]
    public string Start { get; init; } = "laplace";

    /// <summary>IBW, MD, NGD: halve a component's step on extreme draws (the paper's code has no such control).</summary>
    [Parameter("ibw, md, ngd: halve a component's step on extreme draws (the paper's code has none: --no-step-control with --start paper --step-size 0.1 shows NGD's negative variances)")]
    public bool StepControl { get; init; } = true;

    /// <summary>Seed of every run.</summary>
    [Parameter("seed of every run")]
    public ulong Seed { get; init; }
}

/// <summary>One evaluation of a fit: predictive on both splits and the unnormalised KL against each split's posterior.</summary>
/// <param name="Iteration">Iterations done (the final count for ADVI and NUTS).</param>
/// <param name="TestAccuracy">Held-out accuracy of the posterior mean probabilities (classifiers; NaN for regression).</param>
/// <param name="TestLogLikelihood">Held-out mean log predictive density.</param>
/// <param name="TrainAccuracy">Training accuracy.</param>
/// <param name="TrainLogLikelihood">Training mean log predictive density.</param>
/// <param name="KlTrain">E_q[log q − log p(θ, train)] (KL to the posterior minus log evidence); NaN for NUTS.</param>
/// <param name="KlTest">E_q[log q − log p(θ, test)], the same against the prior times the held-out likelihood; NaN for NUTS.</param>
public sealed record PosteriorEvaluation(long Iteration, double TestAccuracy, double TestLogLikelihood, double TrainAccuracy, double TrainLogLikelihood, double KlTrain, double KlTest)
{
    /// <summary>Held-out RMSE of the posterior mean prediction (regression; NaN for classifiers).</summary>
    public double TestRmse { get; init; } = double.NaN;

    /// <summary>Training RMSE (regression; NaN for classifiers).</summary>
    public double TrainRmse { get; init; } = double.NaN;
}

/// <summary>One data set × method: how it ended and its evaluations along the run (the last is the final fit).</summary>
/// <param name="Dataset">The data set.</param>
/// <param name="Method">The method.</param>
/// <param name="Status">How the run ended, with the message of a failure.</param>
/// <param name="Trace">The evaluations, in order; empty when the run failed before its first.</param>
/// <param name="CpuSeconds">Processor seconds of the run and its evaluations.</param>
public sealed record PosteriorRun(string Dataset, string Method, string Status, IReadOnlyList<PosteriorEvaluation> Trace, double CpuSeconds);

/// <summary>
/// Paper 000's Bayesian posteriors (Section 6, Figures 4 and 10): Bayesian logistic regression on breast_cancer and
/// softmax regression on wine (scikit-learn's tables, training ratio 0.5), fitted by IBW, MD and NGD with N isotropic
/// components and by N full-covariance Gaussian particles, evaluated along the run on both splits (accuracy, log
/// predictive density, unnormalised KL), beside ADVI (Stan's defaults) and NUTS as the reference.
/// </summary>
public static class PosteriorsExperiment
{
    /// <summary>The data sets: how each is built.</summary>
    public static IReadOnlyDictionary<string, TargetParameters> Datasets { get; } = new Dictionary<string, TargetParameters>
    {
        ["breast_cancer"] = new() { Target = "logistic-regression", Data = "sklearn:breast_cancer", Intercept = false, TestFraction = 0.5, PriorScale = 10 },
        ["wine"] = new() { Target = "softmax-regression", Data = "sklearn:wine_data", Intercept = false, TestFraction = 0.5, PriorScale = 10 },
        ["boston"] = new() { Target = "bnn-regression", Data = "sklearn:boston_house_prices", TestFraction = 0.5, PriorScale = 10, Hidden = 50, NoiseVariance = 10 },
    };

    /// <summary>The methods.</summary>
    public static IReadOnlyList<string> Methods { get; } = ["ibw", "md", "ngd", "bw-particles", "advi-mf", "advi-fr", "nuts"];

    /// <summary>The data sets and methods of <paramref name="s"/>, checked.</summary>
    /// <exception cref="InvalidParameterException">An unknown data set or method (with a suggestion).</exception>
    public static (string[] Datasets, string[] Methods) Plan(PosteriorsSettings s, IReadOnlyDictionary<string, TargetParameters>? table = null)
    {
        ArgumentNullException.ThrowIfNull(s);
        table ??= Datasets;
        string[] datasets = List(s.Datasets), methods = List(s.Methods);
        foreach (string d in datasets)
            if (!table.ContainsKey(d))
                throw new InvalidParameterException(nameof(s.Datasets), $"unknown data set '{d}'{Near(d, table.Keys)}; the data sets are: {string.Join(", ", table.Keys)}");
        foreach (string m in methods)
            if (!Methods.Contains(m))
                throw new InvalidParameterException(nameof(s.Methods), $"unknown method '{m}'{Near(m, Methods)}; the methods are: {string.Join(", ", Methods)}");
        if (datasets.Length == 0) throw new InvalidParameterException(nameof(s.Datasets), "name at least one data set");
        if (methods.Length == 0) throw new InvalidParameterException(nameof(s.Methods), "name at least one method");
        return (datasets, methods);
    }

    private static string[] List(string list) => [.. list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct()];

    private static string Near(string name, IEnumerable<string> names) => ParameterRecords.Closest(name, [.. names]) is { } near ? $" (did you mean '{near}'?)" : "";

    /// <summary>Runs every data set × method in turn (one log line each), then writes results.csv, traces.csv, report.html.</summary>
    /// <param name="settings">The settings.</param>
    /// <param name="log">Receives one line per run.</param>
    /// <param name="cancellation">Stops between steps.</param>
    /// <param name="table">The data sets by name (default <see cref="Datasets"/>; a test passes small local files).</param>
    public static ExperimentOutput Run(PosteriorsSettings settings, Action<string> log, CancellationToken cancellation = default,
        IReadOnlyDictionary<string, TargetParameters>? table = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(log);
        table ??= Datasets;
        var (datasets, methods) = Plan(settings, table);
        var runs = new List<PosteriorRun>();
        var provenance = new Dictionary<string, string>();
        for (int a = 0; a < datasets.Length; a++)
        {
            TargetParameters parameters = table[datasets[a]];
            var model = (Model)parameters.Build();
            var predictive = (IPredictiveModel)model;
            provenance[datasets[a]] = $"{predictive.Provenance}; d = {model.Dimension}";
            var data = new Split(model, predictive.Training, predictive.HeldOut ?? throw new InvalidOperationException("the data sets hold out half their rows"), TestModel(model, predictive));
            for (int b = 0; b < methods.Length; b++)
            {
                ulong seed = Xoshiro256StarStar.Mix(settings.Seed, (ulong)(a * 100 + b));
                TimeSpan before = Process.GetCurrentProcess().TotalProcessorTime;
                var (status, trace) = RunMethod(methods[b], parameters, data, settings, seed, cancellation);
                double cpu = (Process.GetCurrentProcess().TotalProcessorTime - before).TotalSeconds;
                var run = new PosteriorRun(datasets[a], methods[b], status, trace, cpu);
                runs.Add(run);
                log(Line(run));
            }
        }
        return new ExperimentOutput("posteriors", Files(runs, settings, provenance), [.. runs.Select(Line)]);
    }

    // The model, its two splits, and the model of the held-out rows (the same prior) for the KL on test.
    private sealed record Split(Model Model, (double[] X, double[] Y) Train, (double[] X, double[] Y) Test, Model? TestModel);

    private static Model? TestModel(Model model, IPredictiveModel predictive)
    {
        var (x, y) = predictive.HeldOut!.Value;
        Model test = model switch
        {
            RegressionModel r => RegressionModel.Create(r.Family, x, y, r.Intercept, r.PriorScale, knownSigma: r.KnownSigma),
            SoftmaxRegressionModel s => SoftmaxRegressionModel.Create(x, y, s.Intercept, s.PriorScale),
            NeuralRegressionModel nn => NeuralRegressionModel.Create(x, y, nn.Hidden, nn.NoiseVariance, nn.PriorScale),
            _ => throw new InvalidOperationException($"no test model for {model.Name}"),
        };
        // A held-out split that lacks a class has fewer softmax parameters: no KL on test then.
        return test.Dimension == model.Dimension ? test : null;
    }

    private static (string Status, IReadOnlyList<PosteriorEvaluation> Trace) RunMethod(string method, TargetParameters parameters, Split data,
        PosteriorsSettings s, ulong seed, CancellationToken cancellation)
    {
        Model model = data.Model;
        int d = model.Dimension;
        var evaluationRng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(seed, 9));
        if (model is NeuralRegressionModel && method is "bw-particles" or "advi-fr" or "nuts")
            return (method == "nuts" ? "not run: the network's posterior is multimodal (hidden units permute, signs flip), so NUTS's chains cannot mix"
                : $"not run: full covariances in d = {d} ({(long)d * d:N0} entries each) are outside this experiment's budget", []);
        switch (method)
        {
            case "nuts":
                {
                    var settings = new SampleSettings { Seed = seed, Threads = Math.Min(4, Environment.ProcessorCount), Output = "nuts" };
                    SampleOutcome o = SampleRun.Run(parameters, settings, model, null, cancellation);
                    var draws = o.Result.Chains.SelectMany(c => c.Draws).ToArray();
                    int count = draws.Length / d;
                    string status = string.Create(CultureInfo.InvariantCulture, $"{(o.Result.Divergences > 0 ? $"{o.Result.Divergences} divergences" : "completed")} (max R̂ {o.MaxRhat:F3})");
                    return (status, [Evaluate(data, (long)settings.Chains * settings.Draws, draws, count)]);
                }
            case "advi-mf" or "advi-fr":
                {
                    var job = new FitJob(parameters, new FitSettings
                    {
                        Algorithm = method,
                        Components = 1,
                        Samples = 1,
                        KlSamples = 100,
                        KlEvery = 100,
                        Iterations = 10_000,
                        Seed = seed,
                        Output = method,
                    });
                    GaussianFitOutcome o = GaussianFitRun.Run(job, cancellationToken: cancellation, target: model);
                    string status = $"{o.Result.StatusText} at {o.Result.FinalState.Iteration} (eta {(o.Eta is { } eta ? ResultFiles.G(eta) : "none")})";
                    if (o.Result.Status is RunStatus.Failed or RunStatus.Cancelled) return (status + ": " + o.Result.Message, []);
                    GaussianMixture fit = o.Result.FinalState.ToMixture();
                    return (status, [Evaluate(data, o.Result.FinalState.Iteration, Sampler(fit), s.Draws, evaluationRng)]);
                }
            default:
                return RunFlow(method, data, s, seed, evaluationRng, cancellation);
        }
    }

    // The mixture flows, run in chunks of EvaluateEvery iterations (T/2 + T/2 steps are the same numbers as T) with an
    // evaluation after each chunk.
    private static (string Status, IReadOnlyList<PosteriorEvaluation> Trace) RunFlow(string method, Split data, PosteriorsSettings s, ulong seed,
        Xoshiro256StarStar evaluationRng, CancellationToken cancellation)
    {
        Model model = data.Model;
        int d = model.Dimension, n = s.Components;
        bool paper = s.Start == "paper", network = model is NeuralRegressionModel;
        AffineTarget? whitened = paper || network ? null : FitStart.Whitened(model);
        ITarget target = whitened is null ? model : whitened;
        var initRng = new Xoshiro256StarStar(Xoshiro256StarStar.Mix(seed, 1));
        if (method == "bw-particles")
        {
            double[] means = paper ? [.. Enumerable.Range(0, n * d).Select(_ => initRng.NextDouble(-20, 20))] : FitStart.MeansAround(FitStart.StandardNormal(d), n, initRng);
            var factors = new double[n * d * d];
            for (int k = 0; k < n; k++)
                for (int i = 0; i < d; i++) factors[k * d * d + i * d + i] = paper ? Math.Sqrt(10) : 1;
            var state = new GaussianParticleState(means, factors, [.. Enumerable.Repeat(1.0 / n, n)], 0, new Xoshiro256StarStar(Xoshiro256StarStar.Mix(seed, 2)));
            var flow = new BuresWassersteinFlow(target, n, new BuresWassersteinFlowOptions(s.StepSize, Expectation: GaussianExpectation.RandomizedCubature));
            return Chunks(flow, state, st => Sampler(st.ToMixture()), whitened, data, s, evaluationRng, cancellation);
        }
        // The network has no usable Laplace approximation: raw coordinates from a small box, its own step size.
        IsotropicGaussianMixture q0 = network ? IsotropicGaussianMixture.Initialize(initRng, n, d, 0.5, 0.01)
            : paper ? IsotropicGaussianMixture.Initialize(initRng, n, d, 20, 10) : FitStart.IsotropicAt(FitStart.StandardNormal(d), n, initRng);
        var isotropic = new IsotropicMixtureFlow(target, IsotropicMixtureAlgorithms.Create(method), n,
            new IsotropicMixtureFlowOptions(network ? s.BnnStepSize : s.StepSize, 10, StepControl: s.StepControl));
        var start = IsotropicMixtureState.Start(q0, Xoshiro256StarStar.Mix(seed, 2));
        return Chunks(isotropic, start, st => Sampler(st.ToMixture()), whitened, data, s, evaluationRng, cancellation);
    }

    private static DrawWithLogDensity Sampler(GaussianMixture m) => (rng, v) => { m.Sample(rng, v); return m.LogDensity(v); };

    private static DrawWithLogDensity Sampler(IsotropicGaussianMixture m) => (rng, v) => { m.Sample(rng, v); return m.LogDensity(v); };

    private static (string Status, IReadOnlyList<PosteriorEvaluation> Trace) Chunks<TState>(IVariationalFlow<TState> flow, TState state,
        Func<TState, DrawWithLogDensity> sampler, AffineTarget? whitened, Split data, PosteriorsSettings s, Xoshiro256StarStar evaluationRng,
        CancellationToken cancellation) where TState : IFlowState<TState>
    {
        // The start is evaluated too: the reference a blow-up is measured against.
        var trace = new List<PosteriorEvaluation> { Evaluate(data, state.Iteration, FitStart.InOriginalCoordinates(whitened, sampler(state)), s.Draws, evaluationRng) };
        while (state.Iteration < s.Iterations)
        {
            long chunk = Math.Min(s.EvaluateEvery, s.Iterations - state.Iteration);
            RunResult<TState> result = VariationalRunner.Run(flow, state, new RunOptions(chunk, TraceEvery: 0), cancellationToken: cancellation);
            if (result.Status == RunStatus.Cancelled) throw new OperationCanceledException(cancellation);
            if (result.Status == RunStatus.Failed) return ($"failed: {result.Message}", trace);
            state = result.FinalState;
            try
            {
                trace.Add(Evaluate(data, state.Iteration, FitStart.InOriginalCoordinates(whitened, sampler(state)), s.Draws, evaluationRng));
            }
            catch (TargetEvaluationException ex)
            {
                return ($"failed: the fit at iteration {state.Iteration} could not be evaluated: {ex.Message}", trace);
            }
            // A fit whose KL grew a hundredfold from the start's has blown up; going on only costs time (the flows'
            // stability control splits every step once a component has spread out).
            double first = trace[0].KlTrain, now = trace[^1].KlTrain;
            if (!double.IsFinite(now) || now > 100 * (Math.Abs(first) + 1))
                return (string.Create(CultureInfo.InvariantCulture, $"failed: blown up (KL − log Z {now:G3} at iteration {state.Iteration}, {first:G3} at the start; try a smaller --step-size)"), trace);
        }
        return ("completed", trace);
    }

    // Draws of the fit (on the unconstrained scale, with log q), mapped to the constrained scale; the predictive on both
    // splits; the KL estimates against the model (train) and the held-out model (test).
    private static PosteriorEvaluation Evaluate(Split data, long iteration, DrawWithLogDensity draw, int count, Xoshiro256StarStar rng)
    {
        Model model = data.Model;
        int d = model.Dimension;
        return Evaluate(data, iteration, count, (theta, logRatios) =>
        {
            var x = new double[d];
            for (int c = 0; c < count; c++)
            {
                double logQ = draw(rng, x);
                model.Layout.Constrain(x, theta.AsSpan(c * d, d));
                logRatios[0][c] = logQ - model.LogDensity(x);
                logRatios[1][c] = data.TestModel is { } test ? logQ - test.LogDensity(x) : double.NaN;
            }
        });
    }

    private static PosteriorEvaluation Evaluate(Split data, long iteration, double[] unconstrained, int count)
    {
        Model model = data.Model;
        int d = model.Dimension;
        return Evaluate(data, iteration, count, (theta, logRatios) =>
        {
            for (int c = 0; c < count; c++) model.Layout.Constrain(unconstrained.AsSpan(c * d, d), theta.AsSpan(c * d, d));
            logRatios[0].AsSpan().Fill(double.NaN);
            logRatios[1].AsSpan().Fill(double.NaN);
        });
    }

    // The draws on the constrained scale and log q − log p against the training and the held-out model, filled by the
    // caller; the predictive on both splits from them.
    private static PosteriorEvaluation Evaluate(Split data, long iteration, int count, Action<double[], double[][]> fill)
    {
        var predictive = (IPredictiveModel)data.Model;
        var theta = new double[count * data.Model.Dimension];
        double[][] logRatios = [new double[count], new double[count]];
        fill(theta, logRatios);
        PredictiveSummary test = predictive.Predict(theta, count, data.Test.X, data.Test.Y);
        PredictiveSummary train = predictive.Predict(theta, count, data.Train.X, data.Train.Y);
        return new PosteriorEvaluation(iteration, test.Accuracy ?? double.NaN, test.MeanLogPredictiveDensity, train.Accuracy ?? double.NaN,
            train.MeanLogPredictiveDensity, logRatios[0].Average(), logRatios[1].Average())
        { TestRmse = test.Rmse ?? double.NaN, TrainRmse = train.Rmse ?? double.NaN };
    }

    private static string Line(PosteriorRun r) =>
        r.Trace.Count == 0 ? $"{r.Dataset} {r.Method}: {r.Status}"
        : string.Create(CultureInfo.InvariantCulture,
            $"{r.Dataset} {r.Method}: {r.Status}; test {(double.IsFinite(r.Trace[^1].TestRmse) ? $"RMSE {r.Trace[^1].TestRmse:F3}" : $"accuracy {r.Trace[^1].TestAccuracy:F3}")}, test log-likelihood {r.Trace[^1].TestLogLikelihood:F4}, KL − log Z {r.Trace[^1].KlTrain:G5} (train) {r.Trace[^1].KlTest:G5} (test), {r.CpuSeconds:F1} CPU s");

    private static Dictionary<string, string> Files(IReadOnlyList<PosteriorRun> runs, PosteriorsSettings s, IReadOnlyDictionary<string, string> provenance)
    {
        static string N(double v) => double.IsFinite(v) ? v.ToString("R", CultureInfo.InvariantCulture) : "";
        var results = new StringBuilder("dataset,method,status,iterations,test_accuracy,test_log_likelihood,train_accuracy,train_log_likelihood,kl_train,kl_test,test_rmse,train_rmse\n");
        var traces = new StringBuilder("dataset,method,iteration,test_accuracy,test_log_likelihood,train_accuracy,train_log_likelihood,kl_train,kl_test,test_rmse,train_rmse\n");
        foreach (PosteriorRun r in runs)
        {
            PosteriorEvaluation? last = r.Trace.Count > 0 ? r.Trace[^1] : null;
            results.Append(string.Create(CultureInfo.InvariantCulture, $"{r.Dataset},{r.Method},{ModelSummary.Csv(r.Status)},{last?.Iteration.ToString(CultureInfo.InvariantCulture) ?? ""},")
                + $"{N(last?.TestAccuracy ?? double.NaN)},{N(last?.TestLogLikelihood ?? double.NaN)},{N(last?.TrainAccuracy ?? double.NaN)},{N(last?.TrainLogLikelihood ?? double.NaN)},"
                + $"{N(last?.KlTrain ?? double.NaN)},{N(last?.KlTest ?? double.NaN)},{N(last?.TestRmse ?? double.NaN)},{N(last?.TrainRmse ?? double.NaN)}\n");
            foreach (PosteriorEvaluation e in r.Trace)
                traces.Append(CultureInfo.InvariantCulture, $"{r.Dataset},{r.Method},{e.Iteration},{N(e.TestAccuracy)},{N(e.TestLogLikelihood)},{N(e.TrainAccuracy)},{N(e.TrainLogLikelihood)},{N(e.KlTrain)},{N(e.KlTest)},{N(e.TestRmse)},{N(e.TrainRmse)}\n");
        }
        var files = new Dictionary<string, string>
        {
            ["results.csv"] = results.ToString(),
            ["traces.csv"] = traces.ToString(),
            ["timings.json"] = ResultFiles.Timings([.. runs.Select(r => ($"{r.Dataset}/{r.Method} cpuSeconds", r.CpuSeconds))]),
        };
        var body = new StringBuilder();
        body.Append(string.Create(CultureInfo.InvariantCulture,
            $"<p>N = {s.Components}, {s.Iterations} iterations, γ = h = {ResultFiles.G(s.StepSize)}, start: {s.Start}, step control {(s.StepControl ? "on" : "off")}, evaluation every {s.EvaluateEvery} iterations from {s.Draws} draws, seed {s.Seed}. ")
            + "ADVI: Stan's defaults (η by trials, one gradient draw, tol_rel_obj 0.01, at most 10,000 iterations); NUTS: 4 × 1000 draws, the reference. "
            + "KL − log Z: E_q[log q − log p(θ, data)] against the training rows (train) and against the prior times the held-out likelihood (test).</p>\n");
        foreach (string dataset in runs.Select(r => r.Dataset).Distinct())
        {
            var these = runs.Where(r => r.Dataset == dataset).ToList();
            body.Append(CultureInfo.InvariantCulture, $"<h2>{dataset}</h2>\n<p>{System.Net.WebUtility.HtmlEncode(provenance[dataset])}</p>\n");
            bool regression = these.SelectMany(r => r.Trace).Any(e => double.IsFinite(e.TestRmse));
            string score = regression ? "RMSE" : "accuracy";
            double Test(PosteriorEvaluation e) => regression ? e.TestRmse : e.TestAccuracy;
            double Train(PosteriorEvaluation e) => regression ? e.TrainRmse : e.TrainAccuracy;
            body.Append(Html.Table(["method", "status", "iterations", $"test {score}", "test log-likelihood", $"train {score}", "train log-likelihood", "KL − log Z (train)", "KL − log Z (test)"],
                [.. these.Select(r => r.Trace.Count == 0 ? new[] { r.Method, r.Status, "", "", "", "", "", "", "" }
                    : [r.Method, r.Status, r.Trace[^1].Iteration.ToString(CultureInfo.InvariantCulture), ResultFiles.G(Test(r.Trace[^1])), ResultFiles.G(r.Trace[^1].TestLogLikelihood),
                       ResultFiles.G(Train(r.Trace[^1])), ResultFiles.G(r.Trace[^1].TrainLogLikelihood), ResultFiles.G(r.Trace[^1].KlTrain), ResultFiles.G(r.Trace[^1].KlTest)])]));
            foreach (var (key, label, pick, logY) in new (string, string, Func<PosteriorEvaluation, double>, bool)[]
            {
                (regression ? "test-rmse" : "test-accuracy", $"test {score}", Test, false),
                ("test-log-likelihood", "test log predictive density", e => e.TestLogLikelihood, false),
                ("kl-train", "KL − log Z (train)", e => e.KlTrain, true),
                ("kl-test", "KL − log Z (test)", e => e.KlTest, true),
            })
            {
                var series = new List<Series>();
                for (int i = 0; i < these.Count; i++)
                {
                    PosteriorRun r = these[i];
                    var points = r.Trace.Where(e => double.IsFinite(pick(e))).Select(e => ((double)e.Iteration, pick(e))).ToList();
                    if (points.Count == 0) continue;
                    // ADVI and NUTS give one final value: drawn as a dashed level across the flows' iterations.
                    if (points.Count == 1) points = [(s.EvaluateEvery, points[0].Item2), (s.Iterations, points[0].Item2)];
                    series.Add(new Series(r.Method, points, Plots.Palette[i % Plots.Palette.Length], r.Trace.Count == 1 ? "dash" : null));
                }
                if (series.Count == 0) continue;
                bool log = logY && series.All(x => x.Points.All(p => p.Y > 0));
                string file = $"{dataset}-{key}.svg";
                files[file] = Plots.Lines(series, $"{dataset}: {label}", "iteration", label, logX: true, logY: log);
                body.Append(Html.Figure(file, $"{dataset}: {label} along the run (mixtures; ADVI and NUTS as dashed levels at their final values)."));
            }
        }
        files["report.html"] = Html.Page("Wasserflow: paper 000's Bayesian posteriors", body.ToString());
        return files;
    }
}
