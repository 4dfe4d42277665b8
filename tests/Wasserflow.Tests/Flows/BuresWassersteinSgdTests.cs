using Wasserflow.Families;
using Wasserflow.Flows;
using Wasserflow.Randomness;
using Wasserflow.Targets;

namespace Wasserflow.Tests.Flows;

public class BuresWassersteinSgdTests
{
    [Fact]
    public void Reaches_the_rate_of_theorem_four_on_a_strongly_log_concave_gaussian()
    {
        // pi = N(m*, Σ*) with Σ*⁻¹ eigenvalues in [α, 1], α = 0.5 (so αI ⪯ ∇²V ⪯ I); p̂ = pi. Theorem 4's constants:
        // h = α²/60, Σ₀ = I (between α/9 I and I/α), clip at 1/α. E W2² estimated over 200 independent runs.
        const int d = 3;
        const double alpha = 0.5, h = alpha * alpha / 60;
        double[] precisionDiag = [0.5, 0.75, 1.0];
        double[] cov = new double[d * d];
        for (int i = 0; i < d; i++) cov[i * d + i] = 1 / precisionDiag[i];
        double[] mStar = [3.0, -2.0, 4.0];
        var target = GaussianMixtureTarget.Gaussian(mStar, cov);
        var exact = Gaussian.FromCovariance(mStar, cov);
        var start = Gaussian.Isotropic(new double[d], 1.0);
        double w0 = Gaussian.W2Squared(start, exact);
        var flow = new BuresWassersteinSgd(target, new BuresWassersteinSgdOptions(h, ClipAlpha: alpha));
        int[] checkpoints = [250, 1000, 4000];
        const int runs = 200;
        var sums = new double[checkpoints.Length];
        var sumSquares = new double[checkpoints.Length];
        for (int run = 0; run < runs; run++)
        {
            var state = GaussianParticleState.Start(start, (ulong)(1000 + run));
            int c = 0;
            for (int k = 1; k <= checkpoints[^1]; k++)
            {
                flow.Step(state);
                if (k == checkpoints[c])
                {
                    double w = Gaussian.W2Squared(state.Particle(), exact);
                    sums[c] += w;
                    sumSquares[c] += w * w;
                    c++;
                }
            }
        }
        double floor = 36 * d * h / (alpha * alpha);
        for (int c = 0; c < checkpoints.Length; c++)
        {
            double mean = sums[c] / runs, se = Math.Sqrt(Math.Max(0, sumSquares[c] / runs - mean * mean) / runs);
            double bound = Math.Exp(-alpha * checkpoints[c] * h) * w0 + floor;
            Assert.True(mean + 3 * se <= bound, $"k = {checkpoints[c]}: E W2² = {mean} ± {se} above the bound {bound}");
        }
        // And it actually converges: at k = 4000 (αkh = 8.3) the mean is far below the start.
        Assert.True(sums[^1] / runs < 0.01 * w0, $"E W2² = {sums[^1] / runs} vs W2²(p₀, pi) = {w0}");
    }

    [Fact]
    public void Needs_a_hessian_and_says_so()
    {
        var funnel = new FunnelTarget(2);
        var ex = Assert.Throws<ArgumentException>(() => new BuresWassersteinSgd(funnel));
        Assert.Contains("Hessian", ex.Message);
        Assert.Contains(funnel.Name, ex.Message);
    }
}
