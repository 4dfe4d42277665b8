using System.Buffers.Binary;
using System.IO.Compression;

namespace Wasserflow.Data;

/// <summary>A data file that cannot be read as what it claims to be; the message names the file and the byte offset.</summary>
public sealed class DataFormatException(string message) : Exception(message);

/// <summary>An IDX array (the MNIST / Fashion-MNIST format): its dimensions and its values as doubles.</summary>
/// <param name="Dimensions">Sizes, outermost first (images: count, rows, columns; labels: count).</param>
/// <param name="Values">The values in row-major order.</param>
public sealed record IdxArray(IReadOnlyList<int> Dimensions, double[] Values)
{
    /// <summary>The number of items (the first dimension).</summary>
    public int Count => Dimensions[0];

    /// <summary>Values per item (the product of the other dimensions).</summary>
    public int ItemSize => Dimensions.Skip(1).Aggregate(1, (a, b) => a * b);
}

/// <summary>
/// Reads IDX files (big-endian header: two zero bytes, a type code, the number of dimensions, then one 32-bit size per
/// dimension, then the data), gzip-compressed or not (detected from the magic bytes). Types: unsigned byte, signed
/// byte, 16/32-bit integers, float, double. Truncated or inconsistent files raise <see cref="DataFormatException"/>.
/// </summary>
public static class IdxReader
{
    /// <summary>
    /// Reads the IDX file at <paramref name="path"/>, which must hold unsigned bytes (type code 0x08) in
    /// <paramref name="rank"/> dimensions, as MNIST's image (rank 3) and label (rank 1) files do.
    /// </summary>
    /// <exception cref="DataFormatException">Another type code or rank (each with its own message), or any error of <see cref="Read(string)"/>.</exception>
    public static IdxArray ReadBytes(string path, int rank)
    {
        return Read(path, expectByteRank: rank);
    }

    /// <summary>Reads the IDX file at <paramref name="path"/>.</summary>
    /// <exception cref="DataFormatException">Bad magic number, unknown type, or fewer bytes than the header promises.</exception>
    public static IdxArray Read(string path) => Read(path, 0);

    private static IdxArray Read(string path, int expectByteRank)
    {
        byte[] raw;
        try { raw = File.ReadAllBytes(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new DataFormatException($"{path}: cannot read ({ex.Message})");
        }
        byte[] bytes = raw;
        if (raw.Length >= 2 && raw[0] == 0x1f && raw[1] == 0x8b)
        {
            try
            {
                using var input = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
                using var output = new MemoryStream();
                input.CopyTo(output);
                bytes = output.ToArray();
            }
            catch (InvalidDataException ex)
            {
                throw new DataFormatException($"{path}: corrupt gzip stream ({ex.Message})");
            }
        }
        if (expectByteRank > 0 && bytes.Length >= 4)
        {
            if (bytes[0] == 0 && bytes[1] == 0 && bytes[2] != 0x08)
                throw new DataFormatException($"{path}: IDX type code 0x{bytes[2]:X2} at byte offset 2, expected 0x08 (unsigned bytes)");
            if (bytes[0] == 0 && bytes[1] == 0 && bytes[3] != expectByteRank)
                throw new DataFormatException($"{path}: {bytes[3]} dimensions at byte offset 3, expected {expectByteRank} ({(expectByteRank == 1 ? "labels" : "images: count, rows, columns")})");
        }
        return Parse(bytes, path);
    }

    /// <summary>Parses IDX bytes (already decompressed); <paramref name="name"/> is used in messages.</summary>
    public static IdxArray Parse(ReadOnlySpan<byte> bytes, string name)
    {
        if (bytes.Length < 4) throw new DataFormatException($"{name}: truncated at byte offset {bytes.Length}: an IDX header needs 4 bytes");
        if (bytes[0] != 0 || bytes[1] != 0) throw new DataFormatException($"{name}: not an IDX file (magic bytes at offset 0 are {bytes[0]:X2} {bytes[1]:X2}, expected 00 00)");
        byte type = bytes[2];
        int rank = bytes[3];
        int size = type switch { 0x08 or 0x09 => 1, 0x0B => 2, 0x0C or 0x0D => 4, 0x0E => 8, _ => 0 };
        if (size == 0) throw new DataFormatException($"{name}: unknown IDX type code 0x{type:X2} at byte offset 2");
        if (rank < 1) throw new DataFormatException($"{name}: IDX rank 0 at byte offset 3");
        int header = 4 + 4 * rank;
        if (bytes.Length < header) throw new DataFormatException($"{name}: truncated at byte offset {bytes.Length}: the header needs {header} bytes");
        var dims = new int[rank];
        long count = 1;
        for (int i = 0; i < rank; i++)
        {
            uint dim = BinaryPrimitives.ReadUInt32BigEndian(bytes.Slice(4 + 4 * i, 4));
            if (dim > int.MaxValue) throw new DataFormatException($"{name}: dimension {i} at byte offset {4 + 4 * i} is too large ({dim})");
            dims[i] = (int)dim;
            if (dim != 0 && count > long.MaxValue / 16 / dim) throw new DataFormatException($"{name}: the dimensions in the header ({string.Join(" × ", dims.Take(i + 1))}) describe more values than any file holds");
            count *= dim;
        }
        long expected = header + count * size;
        if (bytes.Length < expected)
            throw new DataFormatException($"{name}: truncated at byte offset {bytes.Length}: the header promises {count} values ending at offset {expected}");
        if (count > Array.MaxLength) throw new DataFormatException($"{name}: {count} values are more than an array can hold");
        var values = new double[count];
        ReadOnlySpan<byte> data = bytes.Slice(header);
        for (long i = 0; i < count; i++)
        {
            int o = (int)(i * size);
            values[i] = type switch
            {
                0x08 => data[o],
                0x09 => (sbyte)data[o],
                0x0B => BinaryPrimitives.ReadInt16BigEndian(data.Slice(o, 2)),
                0x0C => BinaryPrimitives.ReadInt32BigEndian(data.Slice(o, 4)),
                0x0D => BinaryPrimitives.ReadSingleBigEndian(data.Slice(o, 4)),
                _ => BinaryPrimitives.ReadDoubleBigEndian(data.Slice(o, 8)),
            };
        }
        return new IdxArray(dims, values);
    }

    /// <summary>
    /// Standardises each item (row of <paramref name="values"/>, <paramref name="itemSize"/> long) in place to mean 0 and
    /// population standard deviation 1 (so ‖x‖² = d, as the paper-004 reference); a constant item becomes all zeros.
    /// </summary>
    public static void StandardizePerItem(Span<double> values, int itemSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(itemSize, 1);
        for (int start = 0; start + itemSize <= values.Length; start += itemSize)
        {
            Span<double> item = values.Slice(start, itemSize);
            double mean = LinearAlgebra.Reductions.Sum(item) / itemSize;
            System.Numerics.Tensors.TensorPrimitives.Subtract(item, mean, item);
            double sd = Math.Sqrt(LinearAlgebra.Reductions.SumOfSquares(item) / itemSize);
            if (sd > 0) System.Numerics.Tensors.TensorPrimitives.Multiply(item, 1.0 / sd, item);
            else item.Clear();
        }
    }
}
