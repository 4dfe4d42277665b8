using System.Diagnostics;
using Wasserflow.LinearAlgebra;
using Wasserflow.Randomness;

namespace Wasserflow.Tests.LinearAlgebra;

/// <summary>
/// The fixed-order reductions: bit for bit the documented order (16 lanes of fused multiply-adds, a fixed combination,
/// the tail in order) at every length, close to exact sums, and the demo's and a fit's files identical with AVX-512,
/// with AVX2 only and without AVX2, in fresh processes.
/// </summary>
public sealed class ReductionsTests
{
    // The documented order, written independently: lane l of block k takes element 16k + l; then 4-element blocks into
    // lanes 0–3; lanes combined as (s_l + s_{4+l}) + (s_{8+l} + s_{12+l}), then (c0 + c2) + (c1 + c3); the tail in order.
    private static double Reference(double[] a, double[] b, bool product)
    {
        int n = a.Length, i = 0;
        if (n < 4) return Tail(0);
        var s = new double[16];
        for (; i + 15 < n; i += 16)
            for (int l = 0; l < 16; l++) s[l] = product ? Math.FusedMultiplyAdd(a[i + l], b[i + l], s[l]) : s[l] + a[i + l];
        for (; i + 3 < n; i += 4)
            for (int l = 0; l < 4; l++) s[l] = product ? Math.FusedMultiplyAdd(a[i + l], b[i + l], s[l]) : s[l] + a[i + l];
        var c = new double[4];
        for (int l = 0; l < 4; l++) c[l] = (s[l] + s[4 + l]) + (s[8 + l] + s[12 + l]);
        return Tail((c[0] + c[2]) + (c[1] + c[3]));

        double Tail(double r)
        {
            for (int j = i; j < n; j++) r += product ? a[j] * b[j] : a[j];
            return r;
        }
    }

    [Fact]
    public void Every_length_gives_the_documented_order_bit_for_bit_and_close_to_the_exact_value()
    {
        var rng = new Xoshiro256StarStar(4);
        for (int n = 0; n <= 70; n++)
        {
            var a = new double[n];
            var b = new double[n];
            rng.FillStandardNormal(a);
            rng.FillStandardNormal(b);
            Assert.Equal(Reference(a, b, product: true), Reductions.Dot(a, b));
            Assert.Equal(Reference(a, a, product: true), Reductions.SumOfSquares(a));
            Assert.Equal(Reference(a, a, product: false), Reductions.Sum(a));
            double[] abs = [.. a.Select(Math.Abs)];
            Assert.Equal(Reference(abs, abs, product: false), Reductions.SumOfMagnitudes(a));
            decimal exact = 0;
            for (int i = 0; i < n; i++) exact += (decimal)a[i] * (decimal)b[i];
            Assert.True(Math.Abs(Reductions.Dot(a, b) - (double)exact) < 1e-13 * (1 + n), $"n = {n}");
        }
        Assert.Throws<ArgumentException>(() => Reductions.Dot(new double[3], new double[2]));
    }

    [Fact]
    public void The_demo_and_rk4_and_ibw_fits_give_the_same_files_with_avx512_avx2_avx_and_none_in_fresh_processes()
    {
        // On this project's machine (AVX-512) the four runs take the AVX-512, AVX2, AVX-only and software-vector paths
        // .NET has (kernels with an explicit AVX branch — the four-component log terms, Box–Muller's interleaved stores —
        // take their other branch in the last); on a machine without AVX-512 the first two coincide. Every file but the
        // timings must be byte-identical.
        string cli = Path.Combine(AppContext.BaseDirectory, "Wasserflow.Cli.dll");
        string root = Path.Combine(Path.GetTempPath(), "wasserflow-isa-" + Guid.NewGuid().ToString("N"));
        (string Name, string? Variable)[] settings = [("default", null), ("no-avx512", "DOTNET_EnableAVX512"), ("no-avx2", "DOTNET_EnableAVX2"), ("no-avx", "DOTNET_EnableAVX")];
        try
        {
            string[][] commands =
            [
                ["fit", "--target", "logistic", "-d", "30", "--points", "150", "--prior-precision", "0.01", "-a", "bw", "-n", "1", "--step-size", "0.1", "--iterations", "100"],
                ["demo", "--iterations", "2000", "--target-seeds", "1"],
                ["fit", "--target", "gmm", "-d", "12", "--target-covariance", "diagonal", "-n", "8", "-a", "ibw", "--iterations", "300"],
            ];
            for (int c = 0; c < commands.Length; c++)
            {
                string Folder(int k) => Path.Combine(root, $"{c}-{settings[k].Name}");
                for (int k = 0; k < settings.Length; k++)
                {
                    var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
                    foreach (string arg in (string[])[cli, .. commands[c], "-o", Folder(k)]) start.ArgumentList.Add(arg);
                    if (settings[k].Variable is string variable) start.Environment[variable] = "0";
                    using Process p = Process.Start(start)!;
                    string err = p.StandardError.ReadToEnd();
                    p.StandardOutput.ReadToEnd();
                    p.WaitForExit();
                    Assert.True(p.ExitCode == 0, err);
                }
                string[] files = [.. Directory.GetFiles(Folder(0), "*", SearchOption.AllDirectories)
                    .Where(f => !Path.GetFileName(f).StartsWith("timings", StringComparison.Ordinal))];
                Assert.NotEmpty(files);
                foreach (string file in files)
                    for (int k = 1; k < settings.Length; k++)
                        Assert.True(File.ReadAllBytes(file).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(Folder(k), Path.GetRelativePath(Folder(0), file)))),
                            $"{string.Join(' ', commands[c])}: {Path.GetRelativePath(Folder(0), file)} differs with {settings[k].Variable}=0");
            }
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }
}
