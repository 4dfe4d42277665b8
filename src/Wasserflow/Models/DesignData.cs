namespace Wasserflow.Models;

/// <summary>A model that can score held-out rows from posterior draws (the posterior predictive).</summary>
public interface IPredictiveModel
{
    /// <summary>Held-out rows (design matrix on the model's scale, responses), or null.</summary>
    (double[] X, double[] Y)? HeldOut { get; }

    /// <summary>How the data were prepared, for reports.</summary>
    string Provenance { get; }

    /// <summary>The training rows the posterior conditions on (design matrix on the model's scale, responses), for train-set metrics.</summary>
    (double[] X, double[] Y) Training { get; }

    /// <summary>The predictive on rows <paramref name="x"/>, <paramref name="y"/> from <paramref name="count"/> draws of the constrained parameters.</summary>
    PredictiveSummary Predict(ReadOnlySpan<double> draws, int count, double[] x, double[] y);
}

/// <summary>
/// A CSV table made ready for a regression: the design matrix of the chosen predictors (text columns one-hot), a
/// seeded random train/test split, and predictors standardised by the training rows when asked.
/// </summary>
/// <param name="TrainX">Training design matrix (rows × predictors, row-major).</param>
/// <param name="TrainY">Training responses.</param>
/// <param name="HeldOut">Held-out design matrix and responses, or null when nothing is held out.</param>
/// <param name="Names">The design matrix's column names.</param>
/// <param name="Provenance">File, rows, split, predictors and standardisation in words.</param>
public sealed record DesignData(double[] TrainX, double[] TrainY, (double[] X, double[] Y)? HeldOut, string[] Names, string Provenance)
{
    /// <summary>An n×p row-major design matrix column by column (p × n), so a model's kernels run p long vector operations over the rows.</summary>
    internal static double[] ColumnMajor(double[] x, int rows, int predictors)
    {
        var columns = new double[rows * predictors];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < predictors; j++) columns[j * rows + i] = x[i * predictors + j];
        return columns;
    }

    /// <summary>The inverse of <see cref="ColumnMajor"/>: the n×p row-major matrix back from its columns.</summary>
    internal static double[] RowMajor(double[] columns, int rows, int predictors)
    {
        var x = new double[rows * predictors];
        for (int j = 0; j < predictors; j++)
            for (int i = 0; i < rows; i++) x[i * predictors + j] = columns[j * rows + i];
        return x;
    }

    /// <summary>Checks the arguments of <see cref="IPredictiveModel.Predict"/>: n×p held-out rows and count draws of d parameters.</summary>
    /// <exception cref="ArgumentException">Sizes disagree (named).</exception>
    internal static void CheckPredictArguments(ReadOnlySpan<double> draws, int count, double[] x, double[] y, int predictors, int dimension)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(y);
        if (x.Length != y.Length * predictors) throw new ArgumentException($"held-out design matrix: {x.Length} numbers for {y.Length} rows of {predictors} predictors.");
        if (count < 1 || draws.Length < count * dimension) throw new ArgumentException($"need {count} draws of {dimension} parameters.");
    }

    /// <summary>Prepares <paramref name="table"/> with responses <paramref name="y"/> (already checked by the caller).</summary>
    /// <exception cref="ArgumentException">The response listed as a predictor, a bad test fraction, too few rows, or a constant predictor when standardising.</exception>
    public static DesignData Prepare(Data.CsvTable table, string response, double[] y, IReadOnlyList<string> predictors, double testFraction, ulong splitSeed, bool standardize)
    {
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(y);
        ArgumentNullException.ThrowIfNull(predictors);
        IReadOnlyList<string> chosen = predictors.Count > 0 ? predictors : [.. table.Columns.Where(c => c != response)];
        if (chosen.Contains(response)) throw new ArgumentException($"the response '{response}' is also listed as a predictor.");
        var (x, names) = table.DesignMatrix(chosen);
        int n = y.Length, p = names.Length;
        if (!(testFraction >= 0 && testFraction < 1)) throw new ArgumentException($"the test fraction must be in [0, 1), got {testFraction}.");
        int test = (int)Math.Round(testFraction * n);
        if (n - test < 2) throw new ArgumentException($"{table.Path}: {n} rows leave {n - test} for training; need at least 2.");
        int[] order = [.. Enumerable.Range(0, n)];
        var rng = new Randomness.Xoshiro256StarStar(splitSeed);
        for (int i = n - 1; i > 0; i--)
        {
            int j = (int)(rng.NextUInt64() % (ulong)(i + 1));
            (order[i], order[j]) = (order[j], order[i]);
        }
        int[] trainRows = [.. order.Skip(test).Order()], testRows = [.. order.Take(test).Order()];
        double[] Rows(int[] rows) => [.. rows.SelectMany(r => x.AsSpan(r * p, p).ToArray())];
        double[] xTrain = Rows(trainRows), xTest = Rows(testRows);
        if (standardize)
            for (int j = 0; j < p; j++)
            {
                double mean = 0, sq = 0;
                foreach (int r in trainRows) mean += x[r * p + j];
                mean /= trainRows.Length;
                foreach (int r in trainRows) sq += (x[r * p + j] - mean) * (x[r * p + j] - mean);
                double sd = Math.Sqrt(sq / Math.Max(1, trainRows.Length - 1));
                if (!(sd > 0)) throw new ArgumentException($"{table.Path}: predictor '{names[j]}' is constant on the training rows; drop it or turn off standardisation.");
                for (int i = 0; i < trainRows.Length; i++) xTrain[i * p + j] = (xTrain[i * p + j] - mean) / sd;
                for (int i = 0; i < testRows.Length; i++) xTest[i * p + j] = (xTest[i * p + j] - mean) / sd;
            }
        string provenance = $"{table.Path}: {n} rows, {n - test} for training and {test} held out (split seed {splitSeed}); predictors {string.Join(", ", names)}"
            + (standardize ? ", standardised by the training rows' mean and sd" : "");
        return new DesignData(xTrain, [.. trainRows.Select(r => y[r])], test > 0 ? (xTest, [.. testRows.Select(r => y[r])]) : null, names, provenance);
    }
}
