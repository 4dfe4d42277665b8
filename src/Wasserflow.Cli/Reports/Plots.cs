using System.Globalization;
using Wasserflow.Diagnostics;
using Wasserflow.Families;
using Wasserflow.Targets;

namespace Wasserflow.Reports;

/// <summary>One line of a line plot.</summary>
/// <param name="Label">Legend text.</param>
/// <param name="Points">(x, y) points; non-positive values are dropped on log axes.</param>
/// <param name="Color">CSS colour.</param>
/// <param name="Dash">SVG dash pattern or null for solid.</param>
/// <param name="Errors">Half-widths of a shaded band around the points (one per point, linear axes only), or null.</param>
public sealed record Series(string Label, IReadOnlyList<(double X, double Y)> Points, string Color, string? Dash = null, IReadOnlyList<double>? Errors = null);

/// <summary>The plots of a run report, as SVG strings.</summary>
public static class Plots
{
    /// <summary>A colour palette for series.</summary>
    public static readonly string[] Palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];

    /// <summary>
    /// Side-by-side heat maps of the target density and the fitted mixture's density on the same box and colour
    /// scale, with each component drawn as circles of radius √ε_j and 2√ε_j around m_j on the fitted panel.
    /// </summary>
    public static string Density2D(ITarget target, IsotropicGaussianMixture q, Box2D box, string title, int cells = 90)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(q);
        const double panel = 320, margin = 40, gap = 30;
        var svg = new Svg(2 * panel + gap + 2 * margin, panel + 2 * margin + 20);
        svg.Text(svg.Width / 2, 22, title, 15, "middle");
        var logPi = new double[cells * cells];
        var logQ = new double[cells * cells];
        double hx = (box.XMax - box.XMin) / cells, hy = (box.YMax - box.YMin) / cells;
        GridKl.Evaluate(q, target, box, cells, logPi, logQ);
        // Normalise the target on the grid so both panels share one scale even when log Z is unknown.
        double logZ = GaussianMixtureTarget.LogSumExp(logPi) + Math.Log(hx * hy);
        double max = Math.Max(logPi.Max() - logZ, logQ.Max());
        for (int panelIndex = 0; panelIndex < 2; panelIndex++)
        {
            double ox = margin + panelIndex * (panel + gap), oy = margin + 10;
            double[] values = panelIndex == 0 ? logPi : logQ;
            double shift = panelIndex == 0 ? logZ : 0;
            double cw = panel / cells;
            for (int a = 0; a < cells; a++)
                for (int b = 0; b < cells; b++)
                {
                    double t = Math.Exp(values[a * cells + b] - shift - max); // in [0, 1]
                    svg.Rect(ox + a * cw, oy + panel - (b + 1) * cw, cw + 0.3, cw + 0.3, Color(t));
                }
            svg.Rect(ox, oy, panel, panel, "none", "#444");
            svg.Text(ox + panel / 2, oy + panel + 28, panelIndex == 0 ? $"target: {target.Name}" : $"fit: N = {q.ComponentCount}", 13, "middle");
            Ticks(svg, ox, oy, panel, box);
        }
        double ox2 = margin + panel + gap, oy2 = margin + 10;
        double sx = panel / (box.XMax - box.XMin), sy = panel / (box.YMax - box.YMin);
        for (int j = 0; j < q.ComponentCount; j++)
        {
            ReadOnlySpan<double> m = q.ComponentMean(j);
            double cx = ox2 + (m[0] - box.XMin) * sx, cy = oy2 + panel - (m[1] - box.YMin) * sy;
            if (cx < ox2 || cx > ox2 + panel || cy < oy2 || cy > oy2 + panel) continue;
            double r = Math.Sqrt(q.Variances[j]);
            svg.Circle(cx, cy, r * sx, "#ffffff", 1.2);
            svg.Circle(cx, cy, 2 * r * sx, "#ffffff", 0.8, dash: "3,3");
            svg.Circle(cx, cy, 1.8, "#ffffff", 1, "#ffffff");
        }
        return svg.ToString();
    }

    /// <summary>An ellipse to draw over a density: the 2σ contour of a Gaussian.</summary>
    /// <param name="Gaussian">The 2-D Gaussian.</param>
    /// <param name="Color">Stroke colour.</param>
    /// <param name="Width">Stroke width.</param>
    /// <param name="Dash">SVG dash pattern or null.</param>
    public sealed record Ellipse(Gaussian Gaussian, string Color, double Width = 1.2, string? Dash = null);

    /// <summary>
    /// The target's density (grid-normalised heat map) with covariance ellipses (2σ contours) drawn over it, and, when
    /// <paramref name="fit"/> is given, the fitted mixture's density in a second panel with its particles' ellipses.
    /// </summary>
    public static string GaussianFits2D(ITarget target, Box2D box, string title, IReadOnlyList<Ellipse> overTarget,
        GaussianMixture? fit = null, int cells = 90)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(overTarget);
        const double panel = 320, margin = 40, gap = 30;
        int panels = fit is null ? 1 : 2;
        var svg = new Svg(panels * panel + (panels - 1) * gap + 2 * margin, panel + 2 * margin + 20);
        svg.Text(svg.Width / 2, 22, title, 15, "middle");
        double hx = (box.XMax - box.XMin) / cells, hy = (box.YMax - box.YMin) / cells;
        var logPi = new double[cells * cells];
        var logQ = new double[cells * cells];
        GridKl.EvaluateTarget(target, box, cells, logPi);
        Span<double> x = stackalloc double[2];
        for (int cell = 0; cell < cells * cells; cell++)
        {
            GridKl.Midpoint(box, cells, cell, x);
            logQ[cell] = fit?.LogDensity(x) ?? double.NegativeInfinity;
        }
        double logZ = GaussianMixtureTarget.LogSumExp(logPi) + Math.Log(hx * hy);
        double max = Math.Max(logPi.Max() - logZ, logQ.Max());
        var ellipses = new List<IReadOnlyList<Ellipse>> { overTarget };
        if (fit is not null)
            ellipses.Add(Enumerable.Range(0, fit.ComponentCount).Select(k => new Ellipse(fit.Component(k), "#ffffff", 0.9)).ToList());
        for (int panelIndex = 0; panelIndex < panels; panelIndex++)
        {
            double ox = margin + panelIndex * (panel + gap), oy = margin + 10;
            double[] values = panelIndex == 0 ? logPi : logQ;
            double shift = panelIndex == 0 ? logZ : 0;
            double cw = panel / cells;
            for (int a = 0; a < cells; a++)
                for (int b = 0; b < cells; b++)
                    svg.Rect(ox + a * cw, oy + panel - (b + 1) * cw, cw + 0.3, cw + 0.3, Color(Math.Exp(values[a * cells + b] - shift - max)));
            double sx = panel / (box.XMax - box.XMin), sy = panel / (box.YMax - box.YMin);
            foreach (Ellipse e in ellipses[panelIndex])
            {
                var points = new List<(double, double)>();
                ReadOnlySpan<double> m = e.Gaussian.Mean, r = e.Gaussian.CholeskyFactor;
                for (int t = 0; t <= 72; t++)
                {
                    double angle = 2 * Math.PI * t / 72, u = 2 * Math.Cos(angle), v = 2 * Math.Sin(angle);
                    double px = m[0] + r[0] * u, py = m[1] + r[2] * u + r[3] * v;
                    points.Add((ox + Math.Clamp((px - box.XMin) * sx, 0, panel), oy + panel - Math.Clamp((py - box.YMin) * sy, 0, panel)));
                }
                svg.Polyline(points, e.Color, e.Width, e.Dash);
            }
            svg.Rect(ox, oy, panel, panel, "none", "#444");
            svg.Text(ox + panel / 2, oy + panel + 28, panelIndex == 0 ? $"target: {target.Name}" : $"fit: K = {fit!.ComponentCount}", 13, "middle");
            Ticks(svg, ox, oy, panel, box);
        }
        return svg.ToString();
    }

    /// <summary>One panel of <see cref="SamplesOverTarget"/>: a label, points (rows of n×2) and their colour.</summary>
    public sealed record PointPanel(string Label, double[] Points, string Color);

    /// <summary>
    /// Side-by-side panels, each the target's density (grid-normalised heat map) with one method's sample points over it
    /// (at most <paramref name="maxPoints"/> per panel, the first ones).
    /// </summary>
    public static string SamplesOverTarget(ITarget target, Box2D box, string title, IReadOnlyList<PointPanel> panels, int maxPoints = 700, int cells = 50)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(panels);
        const double panel = 260, margin = 40, gap = 44;
        var svg = new Svg(panels.Count * panel + (panels.Count - 1) * gap + 2 * margin, panel + 2 * margin + 20);
        svg.Text(svg.Width / 2, 22, title, 15, "middle");
        var logPi = new double[cells * cells];
        GridKl.EvaluateTarget(target, box, cells, logPi);
        double max = logPi.Max();
        double sx = panel / (box.XMax - box.XMin), sy = panel / (box.YMax - box.YMin), cw = panel / cells;
        for (int index = 0; index < panels.Count; index++)
        {
            double ox = margin + index * (panel + gap), oy = margin + 10;
            for (int a = 0; a < cells; a++)
                for (int b = 0; b < cells; b++)
                    svg.Rect(ox + a * cw, oy + panel - (b + 1) * cw, cw + 0.3, cw + 0.3, Color(Math.Exp(logPi[a * cells + b] - max)));
            double[] points = panels[index].Points;
            for (int p = 0; p < Math.Min(maxPoints, points.Length / 2); p++)
            {
                double x = points[2 * p], y = points[2 * p + 1];
                if (x < box.XMin || x > box.XMax || y < box.YMin || y > box.YMax) continue;
                svg.Circle(ox + (x - box.XMin) * sx, oy + panel - (y - box.YMin) * sy, 1.3, panels[index].Color, 0.8, panels[index].Color);
            }
            svg.Rect(ox, oy, panel, panel, "none", "#444");
            svg.Text(ox + panel / 2, oy + panel + 28, panels[index].Label, 13, "middle");
            Ticks(svg, ox, oy, panel, box);
        }
        return svg.ToString();
    }

    private static void Ticks(Svg svg, double ox, double oy, double panel, Box2D box)
    {
        for (int k = 0; k <= 4; k++)
        {
            double fx = box.XMin + k * (box.XMax - box.XMin) / 4, fy = box.YMin + k * (box.YMax - box.YMin) / 4;
            svg.Text(ox + k * panel / 4, oy + panel + 13, Short(fx), 10, "middle");
            svg.Text(ox - 4, oy + panel - k * panel / 4 + 3, Short(fy), 10, "end");
        }
    }

    // A perceptual dark-to-light ramp (viridis-like) for t in [0, 1].
    private static string Color(double t)
    {
        t = Math.Clamp(Math.Pow(t, 0.5), 0, 1);
        (double r, double g, double b)[] stops = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)];
        double pos = t * (stops.Length - 1);
        int i = Math.Min((int)pos, stops.Length - 2);
        double f = pos - i;
        int R = (int)(stops[i].r + f * (stops[i + 1].r - stops[i].r));
        int G = (int)(stops[i].g + f * (stops[i + 1].g - stops[i].g));
        int B = (int)(stops[i].b + f * (stops[i + 1].b - stops[i].b));
        return $"#{R:x2}{G:x2}{B:x2}";
    }

    /// <summary>A line plot; <paramref name="logX"/>/<paramref name="logY"/> give logarithmic axes (non-positive points are dropped).</summary>
    public static string Lines(IReadOnlyList<Series> series, string title, string xLabel, string yLabel, bool logX, bool logY,
        double width = 560, double height = 380)
    {
        ArgumentNullException.ThrowIfNull(series);
        const double left = 70, right = 150, top = 36, bottom = 50;
        var svg = new Svg(width, height);
        svg.Text(width / 2, 20, title, 15, "middle");
        double pw = width - left - right, ph = height - top - bottom;
        Func<double, double> tx = logX ? Math.Log10 : v => v;
        Func<double, double> ty = logY ? Math.Log10 : v => v;
        var kept = series.Select(s => s.Points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y) && (!logX || p.X > 0) && (!logY || p.Y > 0)).ToList()).ToList();
        var all = kept.SelectMany(p => p).ToList();
        // Error bands (±Errors[i] around Points[i], linear axes only) widen the range.
        var bands = series.Select(s => s.Errors is { } e && !logX && !logY
            ? s.Points.Select((p, i) => (p.X, Low: p.Y - e[i], High: p.Y + e[i])).Where(b => double.IsFinite(b.X) && double.IsFinite(b.Low) && double.IsFinite(b.High)).ToList()
            : []).ToList();
        all.AddRange(bands.SelectMany(b => b.SelectMany(v => new[] { (v.X, v.Low), (v.X, v.High) })));
        if (all.Count == 0) { svg.Text(width / 2, height / 2, "no data to plot", 13, "middle"); return svg.ToString(); }
        double x0 = all.Min(p => tx(p.X)), x1 = all.Max(p => tx(p.X)), y0 = all.Min(p => ty(p.Y)), y1 = all.Max(p => ty(p.Y));
        if (x1 - x0 < 1e-12) { x0 -= 0.5; x1 += 0.5; }
        if (y1 - y0 < 1e-12) { y0 -= 0.5; y1 += 0.5; }
        if (logY) { y0 = Math.Floor(y0); y1 = Math.Ceiling(y1); } else { double pad = 0.05 * (y1 - y0); y0 -= pad; y1 += pad; }
        if (logX) { x0 = Math.Floor(x0); x1 = Math.Ceiling(x1); }
        double PX(double v) => left + (tx(v) - x0) / (x1 - x0) * pw;
        double PY(double v) => top + ph - (ty(v) - y0) / (y1 - y0) * ph;
        svg.Rect(left, top, pw, ph, "none", "#444");
        AxisTicks(svg, x0, x1, logX, v => left + (v - x0) / (x1 - x0) * pw, top + ph, horizontal: true, top, ph);
        AxisTicks(svg, y0, y1, logY, v => top + ph - (v - y0) / (y1 - y0) * ph, left, horizontal: false, left, pw);
        svg.Text(left + pw / 2, height - 12, xLabel, 12, "middle");
        svg.Text(16, top + ph / 2, yLabel, 12, "middle", rotate: -90);
        for (int s = 0; s < series.Count; s++)
        {
            if (kept[s].Count == 0) continue;
            if (bands[s].Count > 1)
                svg.Polygon(bands[s].Select(b => (PX(b.X), PY(b.High))).Concat(bands[s].AsEnumerable().Reverse().Select(b => (PX(b.X), PY(b.Low)))), series[s].Color, 0.18);
            svg.Polyline(kept[s].Select(p => (PX(p.X), PY(p.Y))), series[s].Color, 1.6, series[s].Dash);
            double ly = top + 14 + 16 * s;
            svg.Line(left + pw + 10, ly - 4, left + pw + 30, ly - 4, series[s].Color, 2, series[s].Dash);
            svg.Text(left + pw + 34, ly, series[s].Label, 11);
        }
        return svg.ToString();
    }

    private static void AxisTicks(Svg svg, double v0, double v1, bool log, Func<double, double> position, double at, bool horizontal, double start, double length)
    {
        var ticks = new List<double>();
        if (log)
        {
            for (double e = Math.Ceiling(v0); e <= v1 + 1e-9; e++) ticks.Add(e);
        }
        else
        {
            double step = NiceStep((v1 - v0) / 5);
            for (double v = Math.Ceiling(v0 / step) * step; v <= v1 + 1e-9 * step; v += step) ticks.Add(v);
        }
        foreach (double t in ticks)
        {
            double p = position(t);
            string label = log ? "1e" + t.ToString("0", CultureInfo.InvariantCulture) : Short(t);
            if (horizontal)
            {
                svg.Line(p, start, p, start + length, "#ddd", 0.6);
                svg.Text(p, at + 15, label, 10, "middle");
            }
            else
            {
                svg.Line(start, p, start + length, p, "#ddd", 0.6);
                svg.Text(at - 5, p + 3, label, 10, "end");
            }
        }
    }

    private static double NiceStep(double raw)
    {
        double magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double f = raw / magnitude;
        return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * magnitude;
    }

    internal static string Short(double v) => v.ToString(Math.Abs(v) >= 1e4 || (Math.Abs(v) < 1e-2 && v != 0) ? "0.#e0" : "0.##", CultureInfo.InvariantCulture);

    /// <summary>
    /// The 1-D marginals of the fitted mixture (solid) and, for Gaussian-mixture targets, of the target (dashed), one
    /// small panel per coordinate (at most <paramref name="maxPanels"/>).
    /// </summary>
    public static string Marginals(ITarget target, IsotropicGaussianMixture q, int maxPanels = 20)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(q);
        int panels = Math.Min(q.Dimension, maxPanels);
        const int columns = 5;
        const double pw = 150, ph = 100, gap = 22;
        int rows = (panels + columns - 1) / columns;
        var svg = new Svg(columns * (pw + gap) + gap, rows * (ph + gap + 14) + 40);
        svg.Text(svg.Width / 2, 20, $"marginals: fit (solid) vs target (dashed){(panels < q.Dimension ? $", first {panels} of {q.Dimension}" : "")}", 14, "middle");
        var mixtureTarget = target as GaussianMixtureTarget;
        for (int i = 0; i < panels; i++)
        {
            double ox = gap + (i % columns) * (pw + gap), oy = 40 + (i / columns) * (ph + gap + 14);
            double lo = double.MaxValue, hi = double.MinValue;
            for (int j = 0; j < q.ComponentCount; j++)
            {
                double m = q.ComponentMean(j)[i], r = 3.5 * Math.Sqrt(q.Variances[j]);
                lo = Math.Min(lo, m - r); hi = Math.Max(hi, m + r);
            }
            if (mixtureTarget is not null)
                for (int k = 0; k < mixtureTarget.ComponentCount; k++)
                {
                    double m = mixtureTarget.ComponentMean(k)[i], r = 3.5 * Math.Sqrt(mixtureTarget.ComponentVariance(k, i));
                    lo = Math.Min(lo, m - r); hi = Math.Max(hi, m + r);
                }
            const int n = 120;
            var fit = new (double, double)[n];
            var tgt = new (double, double)[n];
            double ymax = 0;
            for (int s = 0; s < n; s++)
            {
                double v = lo + (hi - lo) * s / (n - 1);
                fit[s] = (v, q.MarginalDensity(i, v));
                tgt[s] = (v, mixtureTarget?.MarginalDensity(i, v) ?? 0);
                ymax = Math.Max(ymax, Math.Max(fit[s].Item2, tgt[s].Item2));
            }
            svg.Rect(ox, oy, pw, ph, "none", "#888");
            (double, double) P((double X, double Y) p) => (ox + (p.X - lo) / (hi - lo) * pw, oy + ph - p.Y / ymax * (ph - 4));
            if (mixtureTarget is not null) svg.Polyline(tgt.Select(P), "#d62728", 1.3, "4,3");
            svg.Polyline(fit.Select(P), "#1f77b4", 1.5);
            svg.Text(ox + pw / 2, oy + ph + 13, $"x{i + 1}  [{Short(lo)}, {Short(hi)}]", 10, "middle");
        }
        return svg.ToString();
    }
}
