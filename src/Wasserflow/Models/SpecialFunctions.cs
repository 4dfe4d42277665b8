namespace Wasserflow.Models;

/// <summary>The scalar functions the models share, in forms that stay finite for any argument.</summary>
internal static class SpecialFunctions
{
    /// <summary>½ log 2π.</summary>
    public const double HalfLog2Pi = 0.91893853320467274178;

    /// <summary>log(1 + eᵗ).</summary>
    public static double Softplus(double t) => t > 0 ? t + Math.Log(1 + Math.Exp(-t)) : Math.Log(1 + Math.Exp(t));

    /// <summary>1 / (1 + e⁻ᵗ).</summary>
    public static double Sigmoid(double t) => t >= 0 ? 1 / (1 + Math.Exp(-t)) : Math.Exp(t) / (1 + Math.Exp(t));

    /// <summary>log Γ(z): Lanczos (g = 7, 9 terms) for z ≥ ½, reflection below; relative error below 1e−13 for the arguments used.</summary>
    public static double LogGamma(double z)
    {
        ReadOnlySpan<double> c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
            12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
        if (z < 0.5) return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * z))) - LogGamma(1 - z);
        z -= 1;
        double a = c[0], t = z + 7.5;
        for (int i = 1; i < 9; i++) a += c[i] / (z + i);
        return 0.5 * Math.Log(2 * Math.PI) + (z + 0.5) * Math.Log(t) - t + Math.Log(a);
    }
}
