using MathNet.Numerics.LinearAlgebra;
using Wasserflow.Families;
using Wasserflow.Randomness;

namespace Wasserflow.Tests.Families;

public class GaussianTests
{
    internal static double[] RandomSpd(Xoshiro256StarStar rng, int d, double ridge = 0.5)
    {
        var a = new double[d * d];
        rng.FillStandardNormal(a);
        var s = new double[d * d];
        for (int i = 0; i < d; i++)
            for (int j = 0; j < d; j++)
            {
                double v = i == j ? ridge : 0;
                for (int k = 0; k < d; k++) v += a[i * d + k] * a[j * d + k] / d;
                s[i * d + j] = v;
            }
        return s;
    }

    [Fact]
    public void W2_of_commuting_covariances_is_the_closed_form()
    {
        // Diagonal covariances commute: W2² = ‖m₁ − m₂‖² + Σ (√a_i − √b_i)².
        var a = Gaussian.FromCovariance([1, 2, 3], [4, 0, 0, 0, 1, 0, 0, 0, 0.25]);
        var b = Gaussian.FromCovariance([0, 2, 5], [1, 0, 0, 0, 9, 0, 0, 0, 0.25]);
        double expected = 1 + 0 + 4 + (2 - 1) * (2 - 1) + (1 - 3) * (1 - 3) + 0;
        Assert.Equal(expected, Gaussian.W2Squared(a, b), 12);
        Assert.Equal(0.0, Gaussian.W2Squared(a, a), 10);
    }

    [Fact]
    public void W2_agrees_with_an_independent_matrix_square_root()
    {
        var rng = new Xoshiro256StarStar(5);
        const int d = 6;
        double[] sa = RandomSpd(rng, d), sb = RandomSpd(rng, d);
        var a = Gaussian.FromCovariance(new double[d], sa);
        var b = Gaussian.FromCovariance([1, 0, 0, 0, 0, 0], sb);
        // MathNet's eigen-decomposition as the independent path: tr (A^{1/2} B A^{1/2})^{1/2}.
        Matrix<double> ma = Matrix<double>.Build.DenseOfRowMajor(d, d, sa), mb = Matrix<double>.Build.DenseOfRowMajor(d, d, sb);
        static Matrix<double> Sqrt(Matrix<double> m)
        {
            var evd = m.Evd(Symmetricity.Symmetric);
            return evd.EigenVectors * Matrix<double>.Build.DiagonalOfDiagonalVector(evd.EigenValues.Map(c => Math.Sqrt(c.Real))) * evd.EigenVectors.Transpose();
        }
        Matrix<double> root = Sqrt(ma);
        double cross = Sqrt(root * mb * root).Trace();
        double expected = 1 + ma.Trace() + mb.Trace() - 2 * cross;
        Assert.Equal(expected, Gaussian.W2Squared(a, b), 10);
    }

    [Fact]
    public void Kl_and_entropy_agree_with_monte_carlo()
    {
        var rng = new Xoshiro256StarStar(9);
        const int d = 4;
        var p = Gaussian.FromCovariance([0.5, -1, 0, 2], RandomSpd(rng, d));
        var q = Gaussian.FromCovariance([0, 0, 1, 1], RandomSpd(rng, d, 1.0));
        const int n = 200_000;
        var x = new double[d];
        double sum = 0, sumSq = 0, ent = 0, entSq = 0;
        for (int i = 0; i < n; i++)
        {
            p.Sample(rng, x);
            double lp = p.LogDensity(x), t = lp - q.LogDensity(x);
            sum += t; sumSq += t * t;
            ent -= lp; entSq += lp * lp;
        }
        double mean = sum / n, se = Math.Sqrt((sumSq / n - mean * mean) / n);
        Assert.True(Math.Abs(mean - Gaussian.Kl(p, q)) < 4 * se, $"KL {Gaussian.Kl(p, q)} vs MC {mean} ± {se}");
        double h = ent / n, hse = Math.Sqrt((entSq / n - h * h) / n);
        Assert.True(Math.Abs(h - p.Entropy) < 4 * hse, $"entropy {p.Entropy} vs MC {h} ± {hse}");
        Assert.Equal(0.0, Gaussian.Kl(p, p), 12);
    }

    [Fact]
    public void Mixture_score_matches_finite_differences_and_weights_are_checked()
    {
        var rng = new Xoshiro256StarStar(3);
        const int d = 3, k = 4;
        var means = new double[k * d];
        rng.FillStandardNormal(means);
        var factors = new double[k * d * d];
        for (int j = 0; j < k; j++)
            Gaussian.FromCovariance(new double[d], RandomSpd(rng, d)).CholeskyFactor.CopyTo(factors.AsSpan(j * d * d, d * d));
        var mixture = new GaussianMixture(means, factors, [0.1, 0.2, 0.3, 0.4], k);
        double[] x = [0.3, -0.7, 1.1];
        var score = new double[d];
        double lp = mixture.LogDensityAndScore(x, score);
        Assert.Equal(mixture.LogDensity(x), lp, 12);
        double[] fd = TestSupport.FiniteDifferenceGradient(p => mixture.LogDensity(p), x);
        for (int i = 0; i < d; i++) Assert.Equal(fd[i], score[i], 6);
        // Density against the weighted sum of the components' densities.
        double direct = 0;
        for (int j = 0; j < k; j++) direct += mixture.Weights[j] * Math.Exp(mixture.Component(j).LogDensity(x));
        Assert.Equal(Math.Log(direct), lp, 12);
        Assert.Throws<ArgumentException>(() => new GaussianMixture(means, factors, [0.5, 0.5, 0.5, 0.5], k));
    }
}
