using System.IO.Compression;
using System.Text;
using Lora.Core.Data;

namespace Lora.Tests.Core.Data;

/// <summary>The character vocabulary, the embedded texts, the block split and the windows of the text demos.</summary>
public class TextCorpusTests
{
    static readonly CharVocabulary V = CharVocabulary.Default;

    [Fact]
    public void DefaultVocabularyHasUnknownSpacePunctuationAndLetters()
    {
        Assert.Equal(39, V.Size);
        Assert.Equal(CharVocabulary.UnknownId, V.IdOf('0'));
        Assert.Equal(1, V.IdOf(' '));
        Assert.Equal(V.IdOf('a'), V.IdOf('A'));
        Assert.Equal(V.IdOf(' '), V.IdOf('\n'));
        Assert.Equal(CharVocabulary.UnknownId, V.IdOf('é'));
        Assert.Equal(CharVocabulary.UnknownId, V.IdOf('_'));
        // Every id in [1, Size) belongs to exactly one symbol and round-trips.
        var seen = new HashSet<int>();
        for (int id = 1; id < V.Size; id++) { Assert.Equal(id, V.IdOf(V.CharOf(id))); Assert.True(seen.Add(V.CharOf(id))); }
        Assert.Equal(CharVocabulary.UnknownSymbol, V.CharOf(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => V.CharOf(V.Size));
        Assert.Throws<ArgumentException>(() => new CharVocabulary("abca"));
        Assert.Throws<ArgumentException>(() => new CharVocabulary("aB"));
        Assert.Throws<ArgumentException>(() => new CharVocabulary("a\n"));
    }

    [Fact]
    public void NormalisationLowersCaseCollapsesWhitespaceAndMarksUnknowns()
    {
        Assert.Equal("in the beginning god: 1611", CharVocabulary.Normalize("  In the\n\tBEGINNING   God:\r\n1611 \n"));
        int[] ids = V.Encode("A _b_\n\n 7!");
        Assert.Equal("a ¿b¿ ¿!", V.Decode(ids));
        Assert.Equal(new[] { V.IdOf('a'), 1, 0, V.IdOf('b'), 0, 1, 0, V.IdOf('!') }, ids);
        Assert.Empty(V.Encode(" \n\t "));
    }

    [Fact]
    public void EmbeddedTextsLoadCompletely()
    {
        var a = TextCorpus.KingJamesGenesisExodus();
        var b = TextCorpus.DevilsDictionary();
        // Counts of the normalised texts (tools/make_text_excerpts.sh fixes the files by sha256 in ATTRIBUTION.md).
        Assert.Equal(366193, a.Length);
        Assert.Equal(351523, b.Length);
        Assert.StartsWith("in the beginning god created the heaven and the earth. and the earth was", V.Decode(a.Ids.AsSpan(0, 80)));
        Assert.EndsWith("in the sight of all the house of israel, throughout all their journeys.", V.Decode(a.Ids.AsSpan(a.Length - 80)));
        Assert.StartsWith("abasement, n. a decent and customary mental attitude", V.Decode(b.Ids.AsSpan(0, 60)));
        Assert.EndsWith("the domestic cow sheds its horn every two years.", V.Decode(b.Ids.AsSpan(b.Length - 60)));
        Assert.Equal(0, a.UnknownFraction);
        Assert.InRange(b.UnknownFraction, 0.0005, 0.003); // digits, _italics_ markers, brackets

        // The rnn demo's text A: chapters 1, 3, …, 1189 of the whole Bible (Genesis 1 first, Revelation 22 last).
        var bible = TextCorpus.KingJamesAlternateChapters();
        Assert.Equal(2080913, bible.Length);
        Assert.StartsWith("in the beginning god created the heaven and the earth. and the earth was", V.Decode(bible.Ids.AsSpan(0, 80)));
        Assert.EndsWith("come, lord jesus. the grace of our lord jesus christ be with you all. amen.", V.Decode(bible.Ids.AsSpan(bible.Length - 80)));
        Assert.Equal(0, bible.UnknownFraction);
        // Genesis 2 is left out: its first verse ("thus the heavens and the earth were finished") is not in the text.
        string decoded = V.Decode(bible.Ids);
        Assert.DoesNotContain("thus the heavens and the earth were finished", decoded);
        Assert.Contains("now the serpent was more subtil than any beast of the field", decoded); // Genesis 3:1
    }

    [Fact]
    public void SplitIsInterleavedContiguousBlocksWithoutOverlap()
    {
        var text = TextCorpus.Parse(string.Concat(Enumerable.Repeat("abc def. ", 30)), "t", "t");
        Assert.Equal(269, text.Length);
        var split = text.Split(blockLength: 20, testEvery: 4);
        // 14 blocks: 3, 7, 11 are test (every 4th), the last block is 9 characters long.
        Assert.Equal(3, split.Test.Count);
        Assert.Equal(11, split.Train.Count);
        Assert.Equal(text.Length, split.TrainLength + split.TestLength);
        var owner = new int[text.Length];
        foreach (var (blocks, mark) in new[] { (split.Train, 1), (split.Test, 2) })
        {
            foreach (var block in blocks)
            {
                Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(block, out var seg));
                Assert.Same(text.Ids, seg.Array);
                for (int i = seg.Offset; i < seg.Offset + seg.Count; i++) { Assert.Equal(0, owner[i]); owner[i] = mark; }
                Assert.Equal(mark == 2, (seg.Offset / 20) % 4 == 3);
            }
        }
        Assert.All(owner, o => Assert.NotEqual(0, o));
        Assert.Throws<ArgumentException>(() => text.Split(blockLength: 100, testEvery: 4));
        Assert.Throws<ArgumentException>(() => text.Split(blockLength: 20, testEvery: 1));
    }

    [Fact]
    public void WindowsPairEachCharacterWithTheNextInsideOneBlock()
    {
        var text = TextCorpus.Parse("abcdefghijklmnopqrstuvwxyz", "t", "t");
        var blocks = new List<ReadOnlyMemory<int>> { text.Ids.AsMemory(0, 10), text.Ids.AsMemory(10, 16) };
        var w = TextWindows.Cut(blocks, length: 4, V.Size, "w");
        // Block 1 (10 chars): windows at 0 and 4 ((10 − 1) / 4 = 2); block 2 (16 chars): 3 windows.
        Assert.Equal((5, 4), (w.Count, w.Length));
        string Inputs(int i) => V.Decode(w.Inputs.AsSpan(i * 4, 4).ToArray().Select(f => (int)f).ToArray());
        string Targets(int i) => V.Decode(w.Targets.AsSpan(i * 4, 4));
        Assert.Equal(["abcd", "efgh", "klmn", "opqr", "stuv"], Enumerable.Range(0, 5).Select(Inputs));
        Assert.Equal(["bcde", "fghi", "lmno", "pqrs", "tuvw"], Enumerable.Range(0, 5).Select(Targets));
        // "j" (the last of block 1) is never an input and "k" never a target: no window crosses blocks.
        Assert.Equal(2, w.Take(2).Count);
        Assert.Throws<ArgumentException>(() => TextWindows.Cut([text.Ids.AsMemory(0, 4)], 4, V.Size, "short"));
        Assert.Throws<ArgumentException>(() => TextWindows.Cut(blocks, 4, vocabularySize: 5, "w"));
    }

    [Fact]
    public void TestWindowsNeverReadTrainingText()
    {
        var b = TextCorpus.DevilsDictionary();
        var split = b.Split();
        var train = TextWindows.Cut(split.Train, 64, V.Size, "train");
        var test = TextWindows.Cut(split.Test, 64, V.Size, "test");
        // Every test window is a substring of one test block; the first 8-gram of each test block never starts a
        // training window at the same text position (positions are disjoint by construction, checked by offset).
        Assert.Equal(split.Test.Count * ((2048 - 1) / 64), test.Count);
        Assert.True(train.Count > 8 * test.Count);
        var testText = split.Test.Select(t => V.Decode(t.Span)).ToArray();
        for (int i = 0; i < test.Count; i += 97)
        {
            string s = V.Decode(test.Inputs.AsSpan(i * 64, 64).ToArray().Select(f => (int)f).ToArray());
            Assert.Contains(testText, t => t.Contains(s, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void NgramRowsAreExactForOrdersOneAndTwoAndHashedAbove()
    {
        int v = V.Size, rows = 4096;
        Assert.Equal(5, NgramContexts.RowOf([5], v, rows));
        Assert.Equal(v + 5 * v + 7, NgramContexts.RowOf([5, 7], v, rows));
        int h3 = NgramContexts.RowOf([5, 7, 9], v, rows);
        Assert.InRange(h3, v + v * v, rows - 1);
        Assert.Equal(h3, NgramContexts.RowOf([5, 7, 9], v, rows));
        Assert.NotEqual(h3, NgramContexts.RowOf([9, 7, 5], v, rows));
        Assert.Throws<ArgumentException>(() => NgramContexts.RowOf([1, 2, 3], v, v + v * v));
        Assert.Throws<ArgumentException>(() => NgramContexts.RowOf([v], v, rows));

        var text = TextCorpus.Parse("the cat sat on the mat", "t", "t");
        var d = NgramContexts.Build([text.Ids.AsMemory(0, 10), text.Ids.AsMemory(10)], orders: 3, rows, v, "ngrams");
        Assert.Equal((10 - 3) + (12 - 3), d.Count);
        Assert.Equal((3, v), (d.FeatureCount, d.ClassCount));
        // Sample 0 predicts position 3 (" ") after "the": its order-1 row is "e", order 2 "he", order 3 "the".
        Assert.Equal(V.IdOf(' '), d.Labels[0]);
        Assert.Equal(V.IdOf('e'), (int)d.Sample(0)[0]);
        Assert.Equal(v + V.IdOf('h') * v + V.IdOf('e'), (int)d.Sample(0)[1]);
        Assert.Equal(NgramContexts.RowOf(V.Encode("the"), v, rows), (int)d.Sample(0)[2]);
        // Block 2 is "t on the mat": its first sample predicts the "n" of "on" from "t o", all inside block 2.
        Assert.Equal(V.IdOf('n'), d.Labels[7]);
        Assert.Equal(NgramContexts.RowOf(V.Encode("t o"), v, rows), (int)d.Sample(7)[2]);
    }

    [Fact]
    public void CorruptTextIsRefusedWithTheSourceNamed()
    {
        var e = Assert.Throws<InvalidDataException>(() => TextCorpus.Parse("good line\nbad \0 byte", "book.txt", "book"));
        Assert.Equal("book.txt: line 2, column 5: character U+0000 is not text", e.Message);
        Assert.Throws<InvalidDataException>(() => TextCorpus.Parse(" \n ", "empty.txt", "empty"));

        string dir = Path.Combine(Path.GetTempPath(), "lora-text-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string latin1 = Path.Combine(dir, "latin1.txt");
            File.WriteAllBytes(latin1, [(byte)'c', (byte)'a', (byte)'f', 0xE9, (byte)' ', (byte)'x']); // é in ISO-8859-1
            e = Assert.Throws<InvalidDataException>(() => TextCorpus.Load(latin1));
            Assert.StartsWith(latin1 + ": not UTF-8 text", e.Message);

            string notGzip = Path.Combine(dir, "plain.txt.gz");
            File.WriteAllText(notGzip, "this is not gzip");
            e = Assert.Throws<InvalidDataException>(() => TextCorpus.Load(notGzip));
            Assert.StartsWith(notGzip + ": not gzip-compressed UTF-8 text", e.Message);

            string good = Path.Combine(dir, "good.txt.gz");
            using (var gz = new GZipStream(File.Create(good), CompressionLevel.Fastest))
                gz.Write(Encoding.UTF8.GetBytes("Café au lait\n"));
            var c = TextCorpus.Load(good);
            Assert.Equal(("good", "caf¿ au lait"), (c.Name, V.Decode(c.Ids)));

            // A directory is named as one (the OS says "access denied", which points at permissions).
            var nf = Assert.Throws<FileNotFoundException>(() => TextCorpus.Load(dir));
            Assert.Contains("is a directory", nf.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
