namespace Wasserflow.LinearAlgebra;

/// <summary>
/// Small dense kernels on row-major d×d matrices stored in flat spans: Cholesky factorisation and triangular solves.
/// One facade for the factorisations the library needs (STYLE.md section 2).
/// </summary>
internal static class Dense
{
    /// <summary>
    /// Overwrites the lower triangle of the symmetric positive-definite <paramref name="a"/> (d×d, row-major) with its
    /// Cholesky factor L (A = L Lᵀ) and zeroes the strict upper triangle.
    /// </summary>
    /// <returns>false when a pivot is not positive (A is not positive definite); <paramref name="a"/> is then partly overwritten.</returns>
    public static bool TryCholesky(Span<double> a, int d)
    {
        for (int j = 0; j < d; j++)
        {
            double diag = a[j * d + j];
            for (int k = 0; k < j; k++)
                diag -= a[j * d + k] * a[j * d + k];
            if (!(diag > 0.0))
                return false;
            double ljj = Math.Sqrt(diag);
            a[j * d + j] = ljj;
            for (int i = j + 1; i < d; i++)
            {
                double s = a[i * d + j];
                for (int k = 0; k < j; k++)
                    s -= a[i * d + k] * a[j * d + k];
                a[i * d + j] = s / ljj;
            }
            for (int i = 0; i < j; i++)
                a[i * d + j] = 0.0;
        }
        return true;
    }

    /// <summary>Solves L y = b for lower-triangular L (row-major d×d); <paramref name="y"/> may alias <paramref name="b"/>.</summary>
    public static void SolveLower(ReadOnlySpan<double> l, int d, ReadOnlySpan<double> b, Span<double> y)
    {
        for (int i = 0; i < d; i++)
        {
            double s = b[i];
            ReadOnlySpan<double> row = l.Slice(i * d, i);
            for (int k = 0; k < i; k++)
                s -= row[k] * y[k];
            y[i] = s / l[i * d + i];
        }
    }

    /// <summary>Solves Lᵀ x = y for lower-triangular L (row-major d×d); <paramref name="x"/> may alias <paramref name="y"/>.</summary>
    public static void SolveLowerTransposed(ReadOnlySpan<double> l, int d, ReadOnlySpan<double> y, Span<double> x)
    {
        for (int i = d - 1; i >= 0; i--)
        {
            double s = y[i];
            for (int k = i + 1; k < d; k++)
                s -= l[k * d + i] * x[k];
            x[i] = s / l[i * d + i];
        }
    }

    /// <summary>y = L z for lower-triangular L.</summary>
    public static void MultiplyLower(ReadOnlySpan<double> l, int d, ReadOnlySpan<double> z, Span<double> y)
    {
        for (int i = d - 1; i >= 0; i--)
        {
            double s = 0.0;
            for (int k = 0; k <= i; k++)
                s += l[i * d + k] * z[k];
            y[i] = s;
        }
    }

    /// <summary>log det(L Lᵀ) = 2 Σ log L_ii.</summary>
    public static double LogDeterminantFromCholesky(ReadOnlySpan<double> l, int d)
    {
        double s = 0.0;
        for (int i = 0; i < d; i++)
            s += Math.Log(l[i * d + i]);
        return 2.0 * s;
    }
}
