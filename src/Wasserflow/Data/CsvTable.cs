using System.Globalization;
using CsvHelper;
using Wasserflow.Parameters;

namespace Wasserflow.Data;

/// <summary>
/// A table read from a CSV file with a header row (RFC 4180 through CsvHelper 34; separator detected): cells kept as text with the line each
/// came from, turned into numbers only when a column is asked for, so every error names the file, the line and the
/// column. Columns whose every value is non-numeric are categorical and enter a design matrix as one-hot indicators.
/// </summary>
public sealed class CsvTable
{
    private readonly string[][] _cells; // rows × columns
    private readonly int[] _lines;      // the file line of each row

    private CsvTable(string path, string[] columns, string[][] cells, int[] lines)
    {
        Path = path;
        Columns = columns;
        _cells = cells;
        _lines = lines;
    }

    /// <summary>The file the table came from (for messages).</summary>
    public string Path { get; }

    /// <summary>Column names, from the header.</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>Number of data rows.</summary>
    public int RowCount => _cells.Length;

    /// <summary>Reads <paramref name="path"/>: a header row, then rows with as many fields.</summary>
    /// <exception cref="DataFormatException">No header, an empty or duplicate column name, a row with a different number of fields, an unclosed quote, or no data row (the message names file and line).</exception>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    public static CsvTable Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such data file.", path);
        var options = CsvReaderOptions.Default with
        {
            HasHeader = true,
            TrackLineNumbers = true,
            DetectSeparatorHint = true,
            TrimWhitespace = true,
            SkipEmptyLines = true,
            MalformedData = CsvMalformedDataHandling.Throw,
            FieldCountMismatch = CsvFieldCountHandling.Allow,
        };
        try
        {
            using var csv = CsvReader.Create(new StreamReader(path), options, leaveOpen: false);
            csv.ReadHeader();
            string[] header = [.. csv.Headers ?? []];
            if (header.Length == 0) throw new DataFormatException($"{path}: empty file; expected a header row naming the columns.");
            for (int j = 0; j < header.Length; j++)
                if (string.IsNullOrWhiteSpace(header[j])) throw new DataFormatException($"{path}, line 1: column {j + 1} has no name in the header.");
            var duplicate = header.GroupBy(h => h).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null) throw new DataFormatException($"{path}, line 1: two columns are named '{duplicate.Key}'.");
            var rows = new List<string[]>();
            var lines = new List<int>();
            while (csv.Read())
            {
                int line = (int)csv.LineNumber;
                if (csv.FieldCount != header.Length)
                    throw new DataFormatException($"{path}, line {line}: {csv.FieldCount} fields, but the header has {header.Length} columns{(csv.FieldCount < header.Length ? " (a truncated row?)" : "")}.");
                rows.Add([.. Enumerable.Range(0, header.Length).Select(csv.GetString)]);
                lines.Add(line);
            }
            if (rows.Count == 0) throw new DataFormatException($"{path}: a header but no data rows.");
            return new CsvTable(path, header, [.. rows], [.. lines]);
        }
        catch (CsvFormatException ex)
        {
            throw new DataFormatException($"{path}, line {ex.LineNumber}: {ex.Message.Split('\n')[0]}");
        }
    }

    /// <summary>The values of column <paramref name="name"/> as numbers.</summary>
    /// <exception cref="DataFormatException">No such column (the nearest names suggested), or a missing or non-numeric cell (file, line and column named).</exception>
    public double[] Column(string name)
    {
        int j = IndexOf(name);
        var values = new double[RowCount];
        for (int i = 0; i < RowCount; i++) values[i] = Number(i, j);
        return values;
    }

    /// <summary>Whether every value of the column is a number (false: categorical).</summary>
    public bool IsNumeric(string name)
    {
        int j = IndexOf(name);
        return _cells.All(row => IsMissing(row[j]) || double.TryParse(row[j], NumberStyles.Float, CultureInfo.InvariantCulture, out _));
    }

    /// <summary>
    /// The design matrix of <paramref name="predictors"/> (rows × columns, row-major) and its column names: numeric
    /// columns as they are, categorical ones as indicators of every level but the first in sorted (ordinal) order,
    /// as R's factors do ("colour=red"; "blue" is then the reference level). A column with numbers and text mixed is an error at its first non-numeric cell.
    /// </summary>
    /// <exception cref="DataFormatException">A missing column, a missing cell, or a mixed column.</exception>
    public (double[] Matrix, string[] Names) DesignMatrix(IReadOnlyList<string> predictors)
    {
        ArgumentNullException.ThrowIfNull(predictors);
        var columns = new List<double[]>();
        var names = new List<string>();
        foreach (string name in predictors)
        {
            int j = IndexOf(name);
            int numeric = _cells.Count(row => double.TryParse(row[j], NumberStyles.Float, CultureInfo.InvariantCulture, out _));
            if (numeric > 0)
            {
                columns.Add(Column(name));
                names.Add(name);
                continue;
            }
            for (int i = 0; i < RowCount; i++)
                if (IsMissing(_cells[i][j])) throw Missing(i, j);
            string[] levels = [.. _cells.Select(row => row[j]).Distinct().Order(StringComparer.Ordinal)];
            foreach (string level in levels.Skip(1))
            {
                columns.Add([.. _cells.Select(row => row[j] == level ? 1.0 : 0.0)]);
                names.Add($"{name}={level}");
            }
        }
        var matrix = new double[RowCount * columns.Count];
        for (int i = 0; i < RowCount; i++)
            for (int c = 0; c < columns.Count; c++)
                matrix[i * columns.Count + c] = columns[c][i];
        return (matrix, [.. names]);
    }

    /// <summary>The line of the file that data row <paramref name="row"/> (0-based) came from.</summary>
    public int LineOf(int row) => _lines[row];

    private int IndexOf(string name)
    {
        for (int j = 0; j < Columns.Count; j++)
            if (Columns[j] == name) return j;
        string? near = ParameterRecords.Closest(name, Columns);
        throw new DataFormatException($"{Path}: no column '{name}'{(near is null ? "" : $" (did you mean '{near}'?)")}; the columns are: {string.Join(", ", Columns)}.");
    }

    private double Number(int row, int column)
    {
        string cell = _cells[row][column];
        if (IsMissing(cell)) throw Missing(row, column);
        if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || !double.IsFinite(v))
            throw new DataFormatException($"{Path}, line {_lines[row]}, column '{Columns[column]}': '{cell}' is not a finite number.");
        return v;
    }

    private static bool IsMissing(string cell) => cell.Length == 0 || cell is "NA" or "NaN" or "nan" or "null";

    private DataFormatException Missing(int row, int column) =>
        new($"{Path}, line {_lines[row]}, column '{Columns[column]}': missing value; remove the row or fill it in.");
}
