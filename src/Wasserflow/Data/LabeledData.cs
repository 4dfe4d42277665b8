namespace Wasserflow.Data;

/// <summary>
/// A classification data set in memory: <see cref="Count"/> rows of <see cref="Dimension"/> features (row-major) and
/// integer labels in 0..<see cref="Classes"/> − 1.
/// </summary>
public sealed class LabeledData
{
    /// <summary>Wraps the arrays after checking their shapes and labels.</summary>
    /// <exception cref="DataFormatException">Shapes disagree or a label is out of range; the message names <paramref name="source"/>.</exception>
    public LabeledData(double[] features, int[] labels, int dimension, int classes, string source)
    {
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(labels);
        Source = source;
        if (dimension < 1 || classes < 2) throw new DataFormatException($"{source}: dimension {dimension} and classes {classes} must be ≥ 1 and ≥ 2.");
        if (features.Length != labels.Length * dimension)
            throw new DataFormatException($"{source}: {features.Length} feature values for {labels.Length} labels of dimension {dimension}.");
        for (int i = 0; i < labels.Length; i++)
            if ((uint)labels[i] >= (uint)classes) throw new DataFormatException($"{source}: label {labels[i]} of item {i} is outside 0..{classes - 1}.");
        for (int i = 0; i < features.Length; i++)
            if (!double.IsFinite(features[i])) throw new DataFormatException($"{source}: feature {i % dimension} of item {i / dimension} is {features[i]}.");
        Features = features;
        Labels = labels;
        Dimension = dimension;
        Classes = classes;
    }

    /// <summary>Features, Count×Dimension.</summary>
    public double[] Features { get; }

    /// <summary>Labels, one per row.</summary>
    public int[] Labels { get; }

    /// <summary>Number of features per row.</summary>
    public int Dimension { get; }

    /// <summary>Number of classes.</summary>
    public int Classes { get; }

    /// <summary>Number of rows.</summary>
    public int Count => Labels.Length;

    /// <summary>Where the data came from (file or package), for messages.</summary>
    public string Source { get; }

    /// <summary>The first <paramref name="count"/> rows as a new set (for quick runs and tests).</summary>
    public LabeledData Take(int count)
    {
        count = Math.Clamp(count, 1, Count);
        return new LabeledData(Features.AsSpan(0, count * Dimension).ToArray(), Labels.AsSpan(0, count).ToArray(), Dimension, Classes, $"{Source} (first {count})");
    }

    /// <summary>Each row shifted and scaled to mean 0 and population standard deviation 1 (paper 004 §5), in place.</summary>
    public LabeledData StandardizePerItem()
    {
        IdxReader.StandardizePerItem(Features, Dimension);
        return this;
    }

    /// <summary>The number of rows per class.</summary>
    public int[] ClassCounts()
    {
        var counts = new int[Classes];
        foreach (int y in Labels) counts[y]++;
        return counts;
    }
}
