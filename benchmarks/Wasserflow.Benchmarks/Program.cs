using System.Globalization;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Wasserflow.Benchmarks;

internal static class Program
{
    // The headline numbers of docs/benchmarks.md (AMD EPYC with AVX-512, 2 cores, one thread: IBW on the Zen 5 of
    // "Portable speed"'s third round (--job medium), the Gaussian flow and GM layer on the same Zen 5 in its second
    // round), by benchmark and parameters, in nanoseconds: `compare` prints a rerun beside them.
    private static readonly Dictionary<string, double> Documented = new()
    {
        ["IbwStepBenchmarks.IbwIteration[Setting=(paper, 2, 20)]"] = 18_580,
        ["IbwStepBenchmarks.IbwIteration[Setting=(paper, 20, 20)]"] = 96_210,
        ["IbwStepBenchmarks.IbwIteration[Setting=(diagonal, 20, 20)]"] = 50_200,
        ["IbwStepBenchmarks.IbwIteration[Setting=(paper, 100, 15)]"] = 122_170,
        ["GaussianFlowBenchmarks.Rk4Step[Setting=(logistic, 100, 1)]"] = 2_917_000,
        ["GaussianFlowBenchmarks.Rk4Step[Setting=(logistic, 10, 1)]"] = 29_490,
        ["GaussianMixtureLayerBenchmarks.TrainingStep[Components=20, Parts=1]"] = 1_226_000,
        ["ModelBenchmarks.LogisticBreastCancerShape"] = 4_650,
        ["ModelBenchmarks.LogisticWhitened"] = 6_390,
        ["ModelFitBenchmarks.BreastCancerShapeGaussianVi100Steps"] = 159_400_000,
        ["NutsBenchmarks.LeapfrogLogisticBreastCancerShape"] = 5_390,
        ["NutsBenchmarks.LeapfrogEightSchools"] = 110,
        ["NutsBenchmarks.LeapfrogGaussian100DenseMetric"] = 2_280,
        ["NutsBenchmarks.TransitionLogistic"] = 112_000,
    };

    /// <summary>
    /// BenchmarkDotNet's switcher, plus two commands: <c>machine</c> prints the CPU, its vector ISA and the runtime in one
    /// line (for docs/benchmarks.md beside each table); <c>compare</c> reruns the headline benchmarks (--job short) and
    /// prints each beside its documented number with the ratio, so anyone can see whether their machine matches.
    /// </summary>
    public static void Main(string[] args)
    {
        if (args is ["machine", ..])
        {
            Console.WriteLine(Machine());
            return;
        }
        if (args is ["compare", ..])
        {
            Console.WriteLine(Machine());
            string[] filters = ["*IbwStepBenchmarks*", "*GaussianFlowBenchmarks*", "*GaussianMixtureLayerBenchmarks*", "*ModelBenchmarks*", "*ModelFitBenchmarks*", "*NutsBenchmarks*"];
            IEnumerable<Summary> summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(["--filter", .. filters, "--job", "short", .. args[1..]]);
            Console.WriteLine();
            Console.WriteLine($"{"benchmark",-70} {"measured",12} {"documented",12} {"ratio",7}");
            foreach (BenchmarkReport report in summaries.SelectMany(s => s.Reports))
            {
                string parameters = report.BenchmarkCase.HasParameters ? report.BenchmarkCase.Parameters.DisplayInfo : "";
                string key = $"{report.BenchmarkCase.Descriptor.Type.Name}.{report.BenchmarkCase.Descriptor.WorkloadMethod.Name}{parameters}";
                if (!Documented.TryGetValue(key, out double documented) || report.ResultStatistics is null) continue;
                double measured = report.ResultStatistics.Mean;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{key,-70} {Time(measured),12} {Time(documented),12} {measured / documented,7:F2}"));
            }
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }

    private static string Time(double nanoseconds) => nanoseconds switch
    {
        >= 1e6 => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds / 1e6:F1} ms"),
        >= 1e3 => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds / 1e3:F2} µs"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds:F0} ns"),
    };

    /// <summary>"CPU model; vector ISA; cores; runtime" — what a benchmark's numbers depend on.</summary>
    internal static string Machine()
    {
        string cpu = "unknown CPU";
        if (File.Exists("/proc/cpuinfo"))
        {
            // The first processor's fields: a VM's model name is often just "AMD EPYC", so family, model and the cache
            // size (L2 per core on AMD) say which generation it is.
            var fields = new Dictionary<string, string>();
            foreach (string line in File.ReadLines("/proc/cpuinfo").TakeWhile(l => l.Length > 0))
                if (line.Split(':', 2) is [string key, string value]) fields.TryAdd(key.Trim(), value.Trim());
            cpu = fields.GetValueOrDefault("model name", cpu);
            if (fields.TryGetValue("cpu family", out string? family) && fields.TryGetValue("model", out string? model))
                cpu += $" (family {family} model {model}{(fields.TryGetValue("cache size", out string? cache) ? $", cache {cache}" : "")})";
        }
        string isa = string.Join(", ",
            $"Vector512 {(Vector512.IsHardwareAccelerated ? "accelerated" : "not accelerated")}",
            $"Vector256 {(Vector256.IsHardwareAccelerated ? "accelerated" : "not accelerated")}",
            $"AVX-512F {(Avx512F.IsSupported ? "yes" : "no")}", $"AVX2 {(Avx2.IsSupported ? "yes" : "no")}", $"FMA {(Fma.IsSupported ? "yes" : "no")}");
        return $"{cpu}; {isa}; {Environment.ProcessorCount} logical cores; {RuntimeInformation.FrameworkDescription}, {RuntimeInformation.OSDescription}";
    }
}
