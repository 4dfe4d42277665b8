using System.Globalization;

namespace Wasserflow.Targets;

/// <summary>Batched, checked evaluation of a target over many points (rows of an n×d row-major buffer).</summary>
public static class TargetEvaluator
{
    /// <summary>
    /// Evaluates log pi and ∇log pi at <paramref name="count"/> points, one after another on the calling thread.
    /// </summary>
    /// <exception cref="TargetEvaluationException">The target returned a non-finite value; the message names the point.</exception>
    public static void LogDensityAndGradient(ITarget target, ReadOnlySpan<double> points, int count,
        Span<double> logDensities, Span<double> gradients)
    {
        int d = target.Dimension;
        if (points.Length < count * d || gradients.Length < count * d || logDensities.Length < count)
            throw new ArgumentException("Buffers are smaller than count × dimension.");
        if (target is IBatchedTarget batched)
        {
            batched.LogDensityAndGradientBatch(points[..(count * d)], count, logDensities[..count], gradients[..(count * d)]);
            for (int p = 0; p < count; p++)
                if (!double.IsFinite(logDensities[p]) || !AllFinite(gradients.Slice(p * d, d)))
                    throw new TargetEvaluationException(
                        $"target '{target.Name}' returned a non-finite {(double.IsFinite(logDensities[p]) ? "gradient" : "log density")} at x = {Format(points.Slice(p * d, d))}");
            return;
        }
        EvaluateRange(target, points, logDensities, gradients, 0, count);
    }

    /// <summary>
    /// As <see cref="LogDensityAndGradient(ITarget, ReadOnlySpan{double}, int, Span{double}, Span{double})"/>, with the
    /// points split into contiguous chunks evaluated on up to <paramref name="maxDegreeOfParallelism"/> threads (the
    /// values do not depend on the thread count). Arrays, not spans, because the chunks run on other threads.
    /// </summary>
    public static void LogDensityAndGradient(ITarget target, double[] points, int pointOffset, int count,
        double[] logDensities, int logDensityOffset, double[] gradients, int maxDegreeOfParallelism)
    {
        ArgumentNullException.ThrowIfNull(target);
        int d = target.Dimension;
        int chunks = Math.Min(maxDegreeOfParallelism, Math.Max(1, count / 8));
        if (chunks <= 1)
        {
            LogDensityAndGradient(target, points.AsSpan(pointOffset * d, count * d), count,
                logDensities.AsSpan(logDensityOffset, count), gradients.AsSpan(pointOffset * d, count * d));
            return;
        }
        // Chunk boundaries on multiples of 4 keep batched kernels on their fast path.
        int size = (count + chunks - 1) / chunks;
        size = (size + 3) / 4 * 4;
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = maxDegreeOfParallelism }, c =>
        {
            int start = c * size, n = Math.Min(size, count - start);
            if (n <= 0) return;
            LogDensityAndGradient(target, points.AsSpan((pointOffset + start) * d, n * d), n,
                logDensities.AsSpan(logDensityOffset + start, n), gradients.AsSpan((pointOffset + start) * d, n * d));
        });
    }

    private static void EvaluateRange(ITarget target, ReadOnlySpan<double> points, Span<double> logDensities,
        Span<double> gradients, int start, int end)
    {
        int d = target.Dimension;
        for (int p = start; p < end; p++)
        {
            ReadOnlySpan<double> x = points.Slice(p * d, d);
            Span<double> g = gradients.Slice(p * d, d);
            double lp = target.LogDensityAndGradient(x, g);
            // A target may legitimately return −∞ outside its support only if it never gets sampled there; for VI that
            // is an error too, because the KL would be infinite.
            if (!double.IsFinite(lp) || !AllFinite(g))
                throw new TargetEvaluationException(
                    $"target '{target.Name}' returned a non-finite {(double.IsFinite(lp) ? "gradient" : "log density")} at x = {Format(x)}");
            logDensities[p] = lp;
        }
    }

    internal static bool AllFinite(ReadOnlySpan<double> values)
    {
        foreach (double v in values)
            if (!double.IsFinite(v))
                return false;
        return true;
    }

    internal static string Format(ReadOnlySpan<double> x)
    {
        int shown = Math.Min(x.Length, 6);
        var parts = new string[shown];
        for (int i = 0; i < shown; i++)
            parts[i] = x[i].ToString("G6", CultureInfo.InvariantCulture);
        return "[" + string.Join(", ", parts) + (x.Length > shown ? $", … ({x.Length} coordinates)]" : "]");
    }
}
