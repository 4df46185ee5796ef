using System.IO.Compression;
using System.Text;
using Lora.Core.IO;

namespace Lora.Core.Data;

/// <summary>A text as character ids over a fixed <see cref="CharVocabulary"/>: the input of the character-level
/// demos. Three public-domain texts are embedded in the library (see Data/Resources/ATTRIBUTION.md).</summary>
/// <remarks>
/// The text is normalised as <see cref="CharVocabulary"/> describes (lower case, whitespace runs → one space, other
/// characters outside the vocabulary → the unknown id). <see cref="Split"/> cuts it into contiguous train and test
/// blocks.
/// </remarks>
public sealed class TextCorpus
{
    /// <summary>The manifest name of the King James excerpt (Genesis and Exodus, one verse per line).</summary>
    public const string KingJamesResource = "Lora.Core.Data.kjv-genesis-exodus.txt.gz";

    /// <summary>The manifest name of the King James Bible's alternate chapters (chapters 1, 3, 5, … of all 1,189, one
    /// verse per line).</summary>
    public const string KingJamesAlternateChaptersResource = "Lora.Core.Data.kjv-alternate-chapters.txt.gz";

    /// <summary>The manifest name of The Devil's Dictionary (every entry, ABASEMENT to ZOOLOGY).</summary>
    public const string DevilsDictionaryResource = "Lora.Core.Data.devils-dictionary.txt.gz";

    /// <summary>Wraps <paramref name="ids"/> (not copied).</summary>
    /// <exception cref="ArgumentException">An empty text or an id outside the vocabulary.</exception>
    public TextCorpus(string name, CharVocabulary vocabulary, int[] ids)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(vocabulary);
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Length == 0) throw new ArgumentException($"Text '{name}' is empty.", nameof(ids));
        for (int i = 0; i < ids.Length; i++)
        {
            if ((uint)ids[i] >= (uint)vocabulary.Size)
                throw new ArgumentException($"Text '{name}': id {ids[i]} at position {i} is outside the vocabulary [0, {vocabulary.Size}).", nameof(ids));
        }
        Name = name;
        Vocabulary = vocabulary;
        Ids = ids;
    }

    /// <summary>A short description for reports, e.g. <c>kjv-genesis-exodus</c>.</summary>
    public string Name { get; }

    /// <summary>The vocabulary the ids index.</summary>
    public CharVocabulary Vocabulary { get; }

    /// <summary>The character ids of the normalised text.</summary>
    public int[] Ids { get; }

    /// <summary>The number of characters.</summary>
    public int Length => Ids.Length;

    /// <summary>The fraction of characters outside the vocabulary.</summary>
    public double UnknownFraction => (double)Ids.Count(id => id == CharVocabulary.UnknownId) / Ids.Length;

    /// <summary>Text A of the embedding demo: the King James Bible's Genesis and Exodus (1611; 2,746 verses).</summary>
    public static TextCorpus KingJamesGenesisExodus(CharVocabulary? vocabulary = null) =>
        LoadEmbedded(KingJamesResource, "kjv-genesis-exodus", vocabulary);

    /// <summary>Text A of the rnn demo: every other chapter of the whole King James Bible (1611; chapters 1, 3, 5, …,
    /// 1,189 in canonical order, Genesis 1 to Revelation 22: 595 chapters, 15,616 verses, from 65 of its 66 books).</summary>
    public static TextCorpus KingJamesAlternateChapters(CharVocabulary? vocabulary = null) =>
        LoadEmbedded(KingJamesAlternateChaptersResource, "kjv-alternate-chapters", vocabulary);

    /// <summary>Text B of the demos: Ambrose Bierce's The Devil's Dictionary (1911).</summary>
    public static TextCorpus DevilsDictionary(CharVocabulary? vocabulary = null) =>
        LoadEmbedded(DevilsDictionaryResource, "devils-dictionary", vocabulary);

    /// <summary>Loads an embedded gzip-compressed UTF-8 text of Lora.Core.</summary>
    /// <exception cref="InvalidOperationException">No such resource.</exception>
    public static TextCorpus LoadEmbedded(string resourceName, string name, CharVocabulary? vocabulary = null)
    {
        using var resource = typeof(TextCorpus).Assembly.GetManifestResourceStream(resourceName)
            ?? throw new InvalidOperationException($"The embedded resource {resourceName} is missing from Lora.Core.");
        return Read(resource, gzip: true, resourceName, name, vocabulary ?? CharVocabulary.Default);
    }

    /// <summary>Loads a UTF-8 text file, gzip-compressed when its name ends in <c>.gz</c>.</summary>
    /// <exception cref="InvalidDataException">The file is not valid (gzip) UTF-8 text; the message names it.</exception>
    /// <exception cref="FileNotFoundException">No such file, or the path is a directory.</exception>
    public static TextCorpus Load(string path, CharVocabulary? vocabulary = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var file = FileFormatErrors.OpenRead(path, "a text file");
        string name = Path.GetFileName(path);
        if (name.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)) name = name[..^3];
        return Read(file, path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase), path, Path.GetFileNameWithoutExtension(name),
            vocabulary ?? CharVocabulary.Default);
    }

    static TextCorpus Read(Stream stream, bool gzip, string source, string name, CharVocabulary vocabulary)
    {
        // Strict UTF-8: a binary or mis-encoded file must fail loudly rather than become a stream of unknown ids.
        var encoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        string text;
        try
        {
            using var input = gzip ? new GZipStream(stream, CompressionMode.Decompress) : stream;
            using var reader = new StreamReader(input, encoding, detectEncodingFromByteOrderMarks: false);
            text = reader.ReadToEnd();
            // A byte order mark marks the encoding, not text (it would become one unknown id at the start).
            if (text.StartsWith('\uFEFF')) text = text[1..];
        }
        catch (Exception e) when (e is DecoderFallbackException or InvalidDataException)
        {
            throw new InvalidDataException($"{source}: not {(gzip ? "gzip-compressed " : "")}UTF-8 text ({e.Message})", e);
        }
        return Parse(text, source, name, vocabulary);
    }

    /// <summary>Normalises and encodes <paramref name="text"/>.</summary>
    /// <exception cref="InvalidDataException">A control character other than whitespace (a binary or corrupt file),
    /// naming the source, line and column; or a text with no character left after normalisation.</exception>
    public static TextCorpus Parse(string text, string source, string name, CharVocabulary? vocabulary = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        int line = 1, column = 0;
        foreach (char c in text)
        {
            column++;
            if (c == '\n') { line++; column = 0; continue; }
            if (char.IsControl(c) && !char.IsWhiteSpace(c) || c == '\uFFFD')
                throw new InvalidDataException($"{source}: line {line}, column {column}: character U+{(int)c:X4} is not text");
        }
        var ids = (vocabulary ?? CharVocabulary.Default).Encode(text);
        if (ids.Length == 0) throw new InvalidDataException($"{source}: no text (empty or only whitespace)");
        return new TextCorpus(name, vocabulary ?? CharVocabulary.Default, ids);
    }

    /// <summary>Cuts the text into contiguous blocks of <paramref name="blockLength"/> characters; every
    /// <paramref name="testEvery"/>-th block (blocks k with k mod testEvery = testEvery − 1) is test text, the rest
    /// training text.</summary>
    /// <remarks>Blocks, not random windows: a test character never appears in a training window, and interleaving
    /// the blocks spreads the test text over the whole work (the dictionary is alphabetical, so a final 10 % would
    /// test only T–Z). Windows and contexts are later cut inside each block, never across two.</remarks>
    /// <exception cref="ArgumentException">A block shorter than 2 characters, testEvery below 2, or a text with
    /// fewer than testEvery blocks (no test block).</exception>
    public TextSplit Split(int blockLength = 2048, int testEvery = 10)
    {
        if (blockLength < 2) throw new ArgumentException($"Block length {blockLength} must be at least 2.", nameof(blockLength));
        if (testEvery < 2) throw new ArgumentException($"testEvery {testEvery} must be at least 2 (one test block in testEvery).", nameof(testEvery));
        int blocks = (Length + blockLength - 1) / blockLength;
        if (blocks < testEvery)
            throw new ArgumentException($"Text '{Name}' has {Length} characters: {blocks} blocks of {blockLength}, fewer than the {testEvery} needed for one test block.", nameof(blockLength));
        var train = new List<ReadOnlyMemory<int>>();
        var test = new List<ReadOnlyMemory<int>>();
        for (int k = 0; k < blocks; k++)
        {
            int start = k * blockLength;
            var block = Ids.AsMemory(start, Math.Min(blockLength, Length - start));
            (k % testEvery == testEvery - 1 ? test : train).Add(block);
        }
        return new TextSplit(this, train, test);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name}: {Length} characters, vocabulary {Vocabulary.Size}";
}
