using System.Buffers.Binary;
using System.Text;
using Wasserflow.Data;
using Wasserflow.Randomness;

namespace Wasserflow.Tests.Data;

public sealed class DatasetsTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "wasserflow-data-" + Guid.NewGuid().ToString("N"));

    public DatasetsTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    /// <summary>Writes a tiny MNIST-like IDX set (side×side images, labels 0..9, class-dependent bright pixel) into <paramref name="folder"/>.</summary>
    internal static void WriteIdxSet(string folder, int train, int test, int side = 4, ulong seed = 1)
    {
        Directory.CreateDirectory(folder);
        var rng = new Xoshiro256StarStar(seed);
        foreach (var (prefix, n) in new[] { ("train", train), ("t10k", test) })
        {
            var images = new byte[16 + n * side * side];
            var labels = new byte[8 + n];
            images[2] = 8; images[3] = 3;
            BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(4), n);
            BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(8), side);
            BinaryPrimitives.WriteInt32BigEndian(images.AsSpan(12), side);
            labels[2] = 8; labels[3] = 1;
            BinaryPrimitives.WriteInt32BigEndian(labels.AsSpan(4), n);
            for (int i = 0; i < n; i++)
            {
                int y = i % 10;
                labels[8 + i] = (byte)y;
                for (int p = 0; p < side * side; p++) images[16 + i * side * side + p] = (byte)rng.NextInt(60);
                images[16 + i * side * side + y] = 255;
            }
            File.WriteAllBytes(Path.Combine(folder, $"{prefix}-images-idx3-ubyte"), images);
            File.WriteAllBytes(Path.Combine(folder, $"{prefix}-labels-idx1-ubyte"), labels);
        }
    }

    [Fact]
    public void An_idx_folder_loads_as_train_and_test_sets_and_standardises_per_image()
    {
        WriteIdxSet(_folder, 30, 10);
        var (train, test) = Datasets.FromIdxDirectory(_folder, 10);
        Assert.Equal((30, 10, 16, 10), (train.Count, test.Count, train.Dimension, train.Classes));
        Assert.Equal(255.0, train.Features[3 * 16 + 3]);
        train.StandardizePerItem();
        for (int i = 0; i < train.Count; i++)
        {
            var row = train.Features.AsSpan(i * 16, 16);
            double mean = row.ToArray().Average(), sq = row.ToArray().Average(v => v * v);
            Assert.Equal(0.0, mean, 12);
            Assert.Equal(1.0, sq, 12);
        }
    }

    [Fact]
    public void A_missing_idx_file_or_label_count_mismatch_is_named()
    {
        WriteIdxSet(_folder, 30, 10);
        File.Delete(Path.Combine(_folder, "t10k-labels-idx1-ubyte"));
        var missing = Assert.Throws<DataFetchException>(() => Datasets.FromIdxDirectory(_folder, 10));
        Assert.Contains("t10k-labels-idx1-ubyte", missing.Message);
        WriteIdxSet(_folder, 30, 10);
        File.Copy(Path.Combine(_folder, "train-labels-idx1-ubyte"), Path.Combine(_folder, "t10k-labels-idx1-ubyte"), overwrite: true);
        var mismatch = Assert.Throws<DataFormatException>(() => Datasets.FromIdxDirectory(_folder, 10));
        Assert.Contains("t10k-labels-idx1-ubyte", mismatch.Message);
        Assert.Throws<DataFetchException>(() => Datasets.FromIdxDirectory(Path.Combine(_folder, "nowhere"), 10));
    }

    [Fact]
    public void Npm_digits_split_80_20_within_each_class()
    {
        // Class c has 5 + c images; the pixel values identify class and index.
        var texts = new List<string>();
        for (int c = 0; c < 3; c++)
        {
            var sb = new StringBuilder("{\"data\":[");
            for (int i = 0; i < (5 + c) * 784; i++) sb.Append(i == 0 ? "" : ",").Append(i / 784 == 0 ? c : 0.5);
            texts.Add(sb.Append("]}").ToString());
        }
        var (train, test) = Datasets.SplitNpmDigits(texts, "digits");
        // round(0.8·5) = 4, round(0.8·6) = 5, round(0.8·7) = 6 (midpoints away from zero).
        Assert.Equal([4, 5, 6], train.ClassCounts());
        Assert.Equal([1, 1, 1], test.ClassCounts());
        Assert.Equal(2.0, train.Features[(4 + 5) * 784]); // first image of class 2 comes first in its block
        var bad = Assert.Throws<DataFormatException>(() => Datasets.SplitNpmDigits(["{\"data\":[1,2,3]}"], "digits"));
        Assert.Contains("digits/0.json", bad.Message);
        Assert.Throws<DataFormatException>(() => Datasets.SplitNpmDigits(["not json"], "digits"));
    }

    [Fact]
    public void Labeled_data_rejects_out_of_range_labels_and_non_finite_features()
    {
        Assert.Throws<DataFormatException>(() => new LabeledData([0, 0], [0, 3], 1, 3, "x"));
        Assert.Throws<DataFormatException>(() => new LabeledData([0, double.NaN], [0, 1], 1, 3, "x"));
        Assert.Throws<DataFormatException>(() => new LabeledData([0, 0, 0], [0, 1], 1, 3, "x"));
    }

    [Fact]
    public void An_unwritable_cache_is_reported_before_any_download()
    {
        // A file where the cache folder should be: nothing can be created under it.
        string blocker = Path.Combine(_folder, "not-a-folder");
        File.WriteAllText(blocker, "");
        var ex = Assert.Throws<DataFetchException>(() => Datasets.FashionMnist(null, Path.Combine(blocker, "cache"), _ => { }));
        Assert.Contains("cannot write the data cache", ex.Message);
    }
}
