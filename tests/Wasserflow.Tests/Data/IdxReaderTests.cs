using System.IO.Compression;
using Wasserflow.Data;

namespace Wasserflow.Tests.Data;

public sealed class IdxReaderTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "wasserflow-idx-" + Guid.NewGuid().ToString("N"));

    public IdxReaderTests() => Directory.CreateDirectory(_folder);

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    // Two 2×3 unsigned-byte images, as the MNIST image files are laid out.
    private static byte[] Images() => [0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 1, 2, 3, 4, 5, 255, 0, 255, 0, 255, 0];

    [Fact]
    public void Reads_plain_and_gzip_files_alike()
    {
        string plain = Path.Combine(_folder, "images.idx"), zipped = Path.Combine(_folder, "images.idx.gz");
        File.WriteAllBytes(plain, Images());
        using (var file = File.Create(zipped))
        using (var gz = new GZipStream(file, CompressionLevel.Optimal))
            gz.Write(Images());
        foreach (string path in new[] { plain, zipped })
        {
            IdxArray a = IdxReader.Read(path);
            Assert.Equal([2, 2, 3], a.Dimensions);
            Assert.Equal(2, a.Count);
            Assert.Equal(6, a.ItemSize);
            Assert.Equal([0, 1, 2, 3, 4, 5, 255, 0, 255, 0, 255, 0], a.Values);
        }
    }

    [Theory]
    [InlineData(new byte[] { 0, 0, 0x08, 0x09 }, 3, "9 dimensions at byte offset 3, expected 3 (images: count, rows, columns)")]
    [InlineData(new byte[] { 0, 0, 0x08, 0x03 }, 1, "3 dimensions at byte offset 3, expected 1 (labels)")]
    [InlineData(new byte[] { 0, 0, 0x0D, 0x03 }, 3, "IDX type code 0x0D at byte offset 2, expected 0x08 (unsigned bytes)")]
    public void A_wrong_type_or_rank_byte_has_its_own_message(byte[] magic, int rank, string expected)
    {
        byte[] bytes = Images();
        magic.CopyTo(bytes, 0);
        string path = Path.Combine(_folder, "bad.idx");
        File.WriteAllBytes(path, bytes);
        var ex = Assert.Throws<DataFormatException>(() => IdxReader.ReadBytes(path, rank));
        Assert.Equal($"{path}: {expected}", ex.Message);
    }

    [Fact]
    public void A_header_whose_dimensions_overflow_is_refused_without_a_garbage_count()
    {
        byte[] bytes = [0, 0, 0x08, 3, 0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 1, 2, 3];
        var ex = Assert.Throws<DataFormatException>(() => IdxReader.Parse(bytes, "huge"));
        Assert.StartsWith("huge: the dimensions in the header (2147483647 × 2147483647) describe more values", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Truncated_and_malformed_files_name_the_file_and_the_offset()
    {
        byte[] truncated = Images()[..20];
        var ex = Assert.Throws<DataFormatException>(() => IdxReader.Parse(truncated, "t10k-images"));
        Assert.Contains("t10k-images", ex.Message);
        Assert.Contains("offset 20", ex.Message);
        byte[] badMagic = Images();
        badMagic[0] = 7;
        Assert.Contains("offset 0", Assert.Throws<DataFormatException>(() => IdxReader.Parse(badMagic, "x")).Message);
        byte[] badType = Images();
        badType[2] = 0x42;
        Assert.Contains("type code 0x42", Assert.Throws<DataFormatException>(() => IdxReader.Parse(badType, "x")).Message);
        string corrupt = Path.Combine(_folder, "corrupt.gz");
        File.WriteAllBytes(corrupt, [0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7]);
        Assert.Contains("corrupt.gz", Assert.Throws<DataFormatException>(() => IdxReader.Read(corrupt)).Message);
    }

    [Fact]
    public void Per_item_standardisation_gives_mean_zero_and_unit_population_variance()
    {
        double[] values = [0, 1, 2, 3, 4, 5, 7, 7, 7, 7, 7, 7];
        IdxReader.StandardizePerItem(values, 6);
        double mean = values.Take(6).Average(), variance = values.Take(6).Select(v => v * v).Average();
        Assert.Equal(0.0, mean, 12);
        Assert.Equal(1.0, variance, 12);
        Assert.All(values.Skip(6), v => Assert.Equal(0.0, v));
    }
}
