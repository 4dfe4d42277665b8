using System.Diagnostics;
using System.Text;
using Wasserflow.Data;
using Wasserflow.Randomness;

namespace Wasserflow.NeuralNetworks;

/// <summary>Settings of a classification training run (paper 004 §5: batch 64, 0.1 for every block but σ at 1).</summary>
public sealed record TrainingOptions
{
    /// <summary>Epochs to train in all (a resumed run continues up to this many).</summary>
    public int Epochs { get; init; } = 20;

    /// <summary>Minibatch size; the last minibatch of an epoch holds the remainder.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Learning rates.</summary>
    public SgdOptions Sgd { get; init; } = new();

    /// <summary>Seed of the shuffling stream.</summary>
    public ulong Seed { get; init; }

    /// <summary>Rows per forward pass when evaluating (memory only; results do not depend on it).</summary>
    public int EvaluationBatch { get; init; } = 1000;

    /// <summary>Checks every setting.</summary>
    /// <exception cref="ArgumentException">One is out of range; the message names it.</exception>
    public void Validate()
    {
        if (Epochs < 1) throw new ArgumentException($"epochs must be ≥ 1 (got {Epochs}).");
        if (BatchSize < 1) throw new ArgumentException($"batch size must be ≥ 1 (got {BatchSize}).");
        if (EvaluationBatch < 1) throw new ArgumentException($"evaluation batch must be ≥ 1 (got {EvaluationBatch}).");
        ArgumentNullException.ThrowIfNull(Sgd);
        Sgd.Validate();
    }
}

/// <summary>One finished epoch: mean training loss over its minibatches, test loss and error, and training seconds.</summary>
public sealed record EpochRecord(int Epoch, double TrainLoss, double TestLoss, double TestError, double Seconds);

/// <summary>Where training stands, reported every few minibatches.</summary>
public readonly record struct TrainingProgress(int Epoch, int Epochs, int Batch, int Batches, double Loss, double SamplesPerSecond);

/// <summary>Training produced a non-finite loss; the message names the epoch and the minibatch.</summary>
public sealed class TrainingDivergedException(string message) : Exception(message);

/// <summary>
/// Minibatch SGD of a <see cref="Sequential"/> network under the zero-logit loss (L = classes − 1 outputs), with the rows
/// reshuffled every epoch from a seeded stream, the test error and loss after every epoch, and a checkpoint after every
/// epoch from which <see cref="Resume"/> continues with exactly the numbers of an uninterrupted run.
/// </summary>
public sealed class ClassifierTrainer
{
    private const string Magic = "WFCK1";
    private readonly Sequential _network;
    private readonly LabeledData _train, _test;
    private readonly Xoshiro256StarStar _shuffle;
    private readonly List<EpochRecord> _history = [];
    private readonly int[] _order;
    private readonly double[] _batchX;
    private readonly int[] _batchY;
    private readonly double[] _gradient;
    private readonly ulong _dataFingerprint;

    /// <summary>A trainer at epoch 0 for <paramref name="network"/> on the given data.</summary>
    /// <exception cref="ArgumentException">Options out of range, or the network's shape does not fit the data (the message says which).</exception>
    public ClassifierTrainer(Sequential network, LabeledData train, LabeledData test, TrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(test);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (network.Inputs != train.Dimension || test.Dimension != train.Dimension)
            throw new ArgumentException($"the network takes {network.Inputs} inputs; the data have {train.Dimension} (train) and {test.Dimension} (test) features.");
        if (network.Outputs != train.Classes - 1 || test.Classes != train.Classes)
            throw new ArgumentException($"the network has {network.Outputs} outputs; the zero-logit loss needs classes − 1 = {train.Classes - 1}.");
        _network = network;
        _train = train;
        _test = test;
        Options = options;
        _shuffle = new Xoshiro256StarStar(options.Seed);
        _order = new int[train.Count];
        _batchX = new double[options.BatchSize * train.Dimension];
        _batchY = new int[options.BatchSize];
        _gradient = new double[Math.Max(options.BatchSize, options.EvaluationBatch) * network.Outputs];
        _dataFingerprint = Fingerprint(train);
    }

    /// <summary>The settings.</summary>
    public TrainingOptions Options { get; }

    /// <summary>Finished epochs, in order.</summary>
    public IReadOnlyList<EpochRecord> History => _history;

    /// <summary>Number of finished epochs.</summary>
    public int CompletedEpochs => _history.Count;

    /// <summary>Runs one epoch: shuffle, a SGD step per minibatch, then the test error. Returns its record.</summary>
    /// <exception cref="TrainingDivergedException">A minibatch loss is not finite; the parameters are those after the previous step.</exception>
    public EpochRecord RunEpoch(IProgress<TrainingProgress>? progress = null, CancellationToken cancellation = default)
    {
        int n = _train.Count, d = _train.Dimension, batchSize = Options.BatchSize, epoch = CompletedEpochs + 1;
        int batches = (n + batchSize - 1) / batchSize;
        _shuffle.Permutation(_order.AsSpan(0, n));
        var clock = Stopwatch.StartNew();
        double lossSum = 0;
        long lastReport = 0;
        for (int batch = 0; batch < batches; batch++)
        {
            cancellation.ThrowIfCancellationRequested();
            int start = batch * batchSize, rows = Math.Min(batchSize, n - start);
            for (int r = 0; r < rows; r++)
            {
                int row = _order[start + r];
                _train.Features.AsSpan(row * d, d).CopyTo(_batchX.AsSpan(r * d, d));
                _batchY[r] = _train.Labels[row];
            }
            ReadOnlySpan<double> h = _network.Forward(_batchX.AsSpan(0, rows * d), rows);
            double loss = ZeroLogitLoss.LossAndGradient(h, _batchY.AsSpan(0, rows), _network.Outputs, _gradient);
            if (!double.IsFinite(loss)) throw new TrainingDivergedException($"the training loss became {loss} at epoch {epoch}, minibatch {batch + 1} of {batches}.");
            _network.Backward(_gradient.AsSpan(0, rows * _network.Outputs));
            Sgd.Step(_network, Options.Sgd);
            lossSum += loss;
            if (progress is not null && (clock.ElapsedMilliseconds - lastReport > 250 || batch == batches - 1))
            {
                lastReport = clock.ElapsedMilliseconds;
                progress.Report(new TrainingProgress(epoch, Options.Epochs, batch + 1, batches, lossSum / (batch + 1), (start + rows) / Math.Max(1e-9, clock.Elapsed.TotalSeconds)));
            }
        }
        double seconds = clock.Elapsed.TotalSeconds;
        var (testLoss, testError) = Evaluate(_network, _test, Options.EvaluationBatch);
        var record = new EpochRecord(epoch, lossSum / batches, testLoss, testError, seconds);
        _history.Add(record);
        return record;
    }

    /// <summary>
    /// Trains until <see cref="TrainingOptions.Epochs"/> epochs are done, writing a checkpoint to
    /// <paramref name="checkpointPath"/> (when given) after every epoch.
    /// </summary>
    public IReadOnlyList<EpochRecord> Run(string? checkpointPath = null, IProgress<TrainingProgress>? progress = null, Action<EpochRecord>? onEpoch = null, CancellationToken cancellation = default)
    {
        while (CompletedEpochs < Options.Epochs)
        {
            var record = RunEpoch(progress, cancellation);
            if (checkpointPath is not null) SaveCheckpoint(checkpointPath);
            onEpoch?.Invoke(record);
        }
        return History;
    }

    /// <summary>Mean zero-logit loss and misclassification rate of <paramref name="network"/> on <paramref name="data"/>.</summary>
    public static (double Loss, double Error) Evaluate(Sequential network, LabeledData data, int batchSize = 1000)
    {
        ArgumentNullException.ThrowIfNull(network);
        ArgumentNullException.ThrowIfNull(data);
        int d = data.Dimension, l = network.Outputs;
        var gradient = new double[Math.Min(batchSize, data.Count) * l];
        double lossSum = 0;
        int wrong = 0;
        for (int start = 0; start < data.Count; start += batchSize)
        {
            int rows = Math.Min(batchSize, data.Count - start);
            ReadOnlySpan<double> h = network.Forward(data.Features.AsSpan(start * d, rows * d), rows);
            ReadOnlySpan<int> labels = data.Labels.AsSpan(start, rows);
            lossSum += rows * ZeroLogitLoss.LossAndGradient(h, labels, l, gradient);
            for (int r = 0; r < rows; r++)
            {
                // Prediction: argmax over (0, h_1, …, h_L); ties go to the lower class.
                int best = 0;
                double top = 0;
                for (int o = 0; o < l; o++)
                    if (h[r * l + o] > top) { top = h[r * l + o]; best = o + 1; }
                if (best != labels[r]) wrong++;
            }
        }
        return (lossSum / data.Count, (double)wrong / data.Count);
    }

    /// <summary>
    /// Writes the epoch count, the shuffling stream's state, the history and every parameter to <paramref name="path"/>
    /// (through a temporary file and an atomic rename, so a crash never leaves half a checkpoint).
    /// </summary>
    public void SaveCheckpoint(string path)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temporary = full + ".tmp";
        using (var writer = new BinaryWriter(File.Create(temporary), Encoding.UTF8))
        {
            writer.Write(Magic);
            writer.Write(Signature());
            foreach (ulong s in _shuffle.GetState()) writer.Write(s);
            writer.Write(_history.Count);
            foreach (var r in _history)
            {
                writer.Write(r.Epoch); writer.Write(r.TrainLoss); writer.Write(r.TestLoss); writer.Write(r.TestError); writer.Write(r.Seconds);
            }
            foreach (Parameter p in _network.Parameters)
                foreach (double v in p.Values) writer.Write(v);
        }
        File.Move(temporary, full, overwrite: true);
    }

    /// <summary>
    /// Restores a checkpoint written by <see cref="SaveCheckpoint"/> into this trainer and its network, so that training
    /// continues exactly as the uninterrupted run would have.
    /// </summary>
    /// <exception cref="DataFormatException">The file is not a checkpoint of this network and these settings; the message names the file and the mismatch.</exception>
    public void Resume(string path)
    {
        string expected = Signature();
        ReadCheckpoint(path, reader =>
        {
            var (signature, state, epochs) = ReadHeader(reader, path);
            if (signature != expected)
                throw new DataFormatException($"{path}: written for another network or settings: {Differences(signature, expected)}.");
            if (epochs < 0 || epochs > Options.Epochs) throw new DataFormatException($"{path}: {epochs} finished epochs, more than the {Options.Epochs} asked for.");
            var history = new List<EpochRecord>(epochs);
            for (int i = 0; i < epochs; i++)
                history.Add(new EpochRecord(reader.ReadInt32(), reader.ReadDouble(), reader.ReadDouble(), reader.ReadDouble(), reader.ReadDouble()));
            var values = _network.Parameters.Select(p => new double[p.Values.Length]).ToArray();
            foreach (double[] block in values)
                for (int i = 0; i < block.Length; i++) block[i] = reader.ReadDouble();
            if (reader.BaseStream.Position != reader.BaseStream.Length) throw new DataFormatException($"{path}: {reader.BaseStream.Length - reader.BaseStream.Position} bytes after the parameters.");
            // Everything read and checked: now apply.
            _shuffle.CopyFrom(Xoshiro256StarStar.FromState(state));
            _history.Clear();
            _history.AddRange(history);
            for (int i = 0; i < values.Length; i++) values[i].CopyTo(_network.Parameters[i].Values, 0);
            return 0;
        });
    }

    /// <summary>The number of finished epochs recorded in the checkpoint at <paramref name="path"/>.</summary>
    /// <exception cref="DataFormatException">It is not a readable checkpoint.</exception>
    public static int ReadCompletedEpochs(string path) => ReadCheckpoint(path, reader => ReadHeader(reader, path).Epochs);

    // Opens a checkpoint and runs `read` on it, turning a missing or truncated file into a DataFormatException.
    private static T ReadCheckpoint<T>(string path, Func<BinaryReader, T> read)
    {
        try
        {
            using var reader = new BinaryReader(File.OpenRead(path), Encoding.UTF8);
            return read(reader);
        }
        catch (EndOfStreamException)
        {
            throw new DataFormatException($"{path}: truncated checkpoint.");
        }
        catch (FileNotFoundException)
        {
            throw new DataFormatException($"{path}: checkpoint not found.");
        }
    }

    private static (string Signature, ulong[] State, int Epochs) ReadHeader(BinaryReader reader, string path)
    {
        if (reader.ReadString() != Magic) throw new DataFormatException($"{path}: not a Wasserflow checkpoint.");
        string signature = reader.ReadString();
        var state = new ulong[4];
        for (int i = 0; i < 4; i++) state[i] = reader.ReadUInt64();
        return (signature, state, reader.ReadInt32());
    }

    // FNV-1a over the labels and every 997th feature value: cheap, and enough to tell data sets of the same size apart.
    private static ulong Fingerprint(LabeledData data)
    {
        ulong hash = 14695981039346656037UL;
        void Mix(ulong value)
        {
            for (int b = 0; b < 8; b++)
            {
                hash ^= (value >> (8 * b)) & 0xFF;
                hash *= 1099511628211UL;
            }
        }
        foreach (int y in data.Labels) Mix((ulong)y);
        for (int i = 0; i < data.Features.Length; i += 997) Mix(BitConverter.DoubleToUInt64Bits(data.Features[i]));
        return hash;
    }

    // The fields of two signatures that differ, each as the checkpoint has it and as this run has it.
    private static string Differences(string checkpoint, string run)
    {
        string[] a = checkpoint.Split(';'), b = run.Split(';');
        var parts = new List<string>();
        for (int i = 0; i < Math.Max(a.Length, b.Length); i++)
        {
            string x = i < a.Length ? a[i] : "nothing", y = i < b.Length ? b[i] : "nothing";
            if (x != y) parts.Add($"'{x}' in the checkpoint, '{y}' in this run");
        }
        return string.Join("; ", parts);
    }

    // What must match between a checkpoint and the run resuming it.
    private string Signature() =>
        string.Join(";", _network.Parameters.Select(p => $"{p.Name}[{p.Values.Length}]")) +
        $";seed {Options.Seed};batch {Options.BatchSize};rates {Options.Sgd.LearningRate}/{string.Join(",", Options.Sgd.RatesByName.OrderBy(r => r.Key, StringComparer.Ordinal).Select(r => $"{r.Key}={r.Value}"))};train {_train.Count} items, data {_dataFingerprint:x16}";
}
