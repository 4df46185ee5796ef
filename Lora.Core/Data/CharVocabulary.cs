namespace Lora.Core.Data;

/// <summary>A fixed character vocabulary for the character-level text demos: each character of normalised text maps
/// to an id in [0, <see cref="Size"/>), with id 0 for every character outside the vocabulary.</summary>
/// <remarks>
/// <para><see cref="Default"/> holds 39 symbols: the unknown symbol (id 0), the space, the 11 punctuation marks
/// <c>! " ' ( ) , - . : ; ?</c> and the letters a–z, which covers all but 0.15 % of The Devil's Dictionary and all of
/// the King James excerpt. The vocabulary is fixed, not derived from the text, so a model trained on one text reads
/// any other with the same ids.</para>
/// <para>Normalisation (<see cref="Normalize"/>): ASCII letters are lower-cased (the two texts capitalise very
/// differently — "LORD" in the Bible, every headword in the dictionary — and case would mostly teach the model those
/// conventions); every run of whitespace (space, tab, line break) becomes one space and the text is trimmed, so line
/// wrapping and verse or entry layout do not count as text; every other character is kept as it is, and
/// <see cref="Encode(ReadOnlySpan{char})"/> maps those outside the vocabulary (digits, <c>_</c> italics markers,
/// brackets, non-ASCII letters) to <see cref="UnknownId"/>, which is a real class the models must predict.</para>
/// </remarks>
public sealed class CharVocabulary
{
    /// <summary>The id of characters outside the vocabulary.</summary>
    public const int UnknownId = 0;

    /// <summary>How <see cref="Decode"/> shows the unknown symbol.</summary>
    public const char UnknownSymbol = '\u00BF';

    readonly string symbols;
    readonly int[] ids = new int[128];

    /// <summary>The default vocabulary: unknown, space, <c>!"'(),-.:;?</c>, a–z (39 ids).</summary>
    public static CharVocabulary Default { get; } = new(" !\"'(),-.:;?abcdefghijklmnopqrstuvwxyz");

    /// <summary>A vocabulary of <paramref name="symbols"/> (ids 1, 2, …; id 0 is unknown).</summary>
    /// <exception cref="ArgumentException">An empty list, a repeated symbol, or a symbol that is not printable
    /// ASCII, an upper-case letter, or whitespace other than the space (normalised text never holds those).</exception>
    public CharVocabulary(string symbols)
    {
        ArgumentNullException.ThrowIfNull(symbols);
        if (symbols.Length == 0) throw new ArgumentException("A vocabulary needs at least one symbol.", nameof(symbols));
        for (int i = 0; i < symbols.Length; i++)
        {
            char c = symbols[i];
            if (c < ' ' || c > '~' || c is >= 'A' and <= 'Z')
                throw new ArgumentException($"Vocabulary symbol {i} (U+{(int)c:X4}) is not a printable lower-case ASCII character.", nameof(symbols));
            if (ids[c] != 0)
                throw new ArgumentException($"Vocabulary symbol '{c}' appears twice (positions {ids[c] - 1} and {i}).", nameof(symbols));
            ids[c] = i + 1;
        }
        this.symbols = symbols;
    }

    /// <summary>The number of ids, including the unknown one.</summary>
    public int Size => symbols.Length + 1;

    /// <summary>The symbols in id order, starting at id 1.</summary>
    public string Symbols => symbols;

    /// <summary>The id of <paramref name="c"/> after normalisation (<see cref="UnknownId"/> if it is not in the
    /// vocabulary). Whitespace maps to the space's id when the space is in the vocabulary.</summary>
    public int IdOf(char c)
    {
        if (c is >= 'A' and <= 'Z') c = (char)(c + ('a' - 'A'));
        else if (char.IsWhiteSpace(c)) c = ' ';
        return c < 128 ? ids[c] : UnknownId;
    }

    /// <summary>The character of <paramref name="id"/> (<see cref="UnknownSymbol"/> for the unknown id).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id outside [0, <see cref="Size"/>).</exception>
    public char CharOf(int id)
    {
        if ((uint)id >= (uint)Size) throw new ArgumentOutOfRangeException(nameof(id), $"Id {id} is outside the vocabulary [0, {Size}).");
        return id == UnknownId ? UnknownSymbol : symbols[id - 1];
    }

    /// <summary>Lower-cases ASCII letters, turns every whitespace run into one space and trims the ends.</summary>
    public static string Normalize(ReadOnlySpan<char> text)
    {
        var sb = new System.Text.StringBuilder(text.Length);
        bool pendingSpace = false;
        foreach (char c in text)
        {
            if (char.IsWhiteSpace(c)) { pendingSpace = sb.Length > 0; continue; }
            if (pendingSpace) { sb.Append(' '); pendingSpace = false; }
            sb.Append(c is >= 'A' and <= 'Z' ? (char)(c + ('a' - 'A')) : c);
        }
        return sb.ToString();
    }

    /// <summary>The ids of <paramref name="text"/> after <see cref="Normalize"/>.</summary>
    public int[] Encode(ReadOnlySpan<char> text)
    {
        string normal = Normalize(text);
        var result = new int[normal.Length];
        for (int i = 0; i < normal.Length; i++) result[i] = IdOf(normal[i]);
        return result;
    }

    /// <summary>The text of <paramref name="ids"/> (unknown ids as <see cref="UnknownSymbol"/>).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An id outside [0, <see cref="Size"/>).</exception>
    public string Decode(ReadOnlySpan<int> ids)
    {
        var chars = new char[ids.Length];
        for (int i = 0; i < ids.Length; i++) chars[i] = CharOf(ids[i]);
        return new string(chars);
    }
}
