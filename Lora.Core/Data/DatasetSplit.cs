namespace Lora.Core.Data;

/// <summary>Seeded train/test splits.</summary>
public static class DatasetSplit
{
    /// <summary>Splits <paramref name="data"/> into train and test parts, the same way for the same seed.</summary>
    /// <remarks>
    /// Stratified (the default): each class contributes round(testFraction · its count) samples to the test part,
    /// so both parts keep the class balance. Plain: round(testFraction · n) samples drawn at random. Both parts keep
    /// the samples' original order (shuffling is the minibatch iterator's job).
    /// </remarks>
    /// <exception cref="ArgumentException">A fraction outside (0, 1), or a split leaving either part empty.</exception>
    public static (Dataset Train, Dataset Test) Split(Dataset data, double testFraction, ulong seed, bool stratified = true)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (!(testFraction > 0 && testFraction < 1))
            throw new ArgumentException($"Test fraction {testFraction} must be in (0, 1).", nameof(testFraction));
        var rng = new DataRandom(seed, 0x5EED);
        var isTest = new bool[data.Count];
        if (stratified)
        {
            var byClass = new List<int>[data.ClassCount];
            for (int c = 0; c < byClass.Length; c++) byClass[c] = [];
            for (int i = 0; i < data.Count; i++) byClass[data.Labels[i]].Add(i);
            foreach (var members in byClass)
            {
                var idx = members.ToArray();
                rng.Shuffle(idx);
                int take = (int)Math.Round(testFraction * idx.Length, MidpointRounding.AwayFromZero);
                for (int k = 0; k < take; k++) isTest[idx[k]] = true;
            }
        }
        else
        {
            var idx = Enumerable.Range(0, data.Count).ToArray();
            rng.Shuffle(idx);
            int take = (int)Math.Round(testFraction * idx.Length, MidpointRounding.AwayFromZero);
            for (int k = 0; k < take; k++) isTest[idx[k]] = true;
        }
        var test = Enumerable.Range(0, data.Count).Where(i => isTest[i]).ToArray();
        var train = Enumerable.Range(0, data.Count).Where(i => !isTest[i]).ToArray();
        if (test.Length == 0 || train.Length == 0)
            throw new ArgumentException($"Splitting {data.Count} samples with test fraction {testFraction} leaves a part empty.", nameof(testFraction));
        return (data.Subset(train, data.Name + " train"), data.Subset(test, data.Name + " test"));
    }
}
