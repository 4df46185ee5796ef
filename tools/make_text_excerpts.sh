#!/usr/bin/env bash
# Reproduces the three text excerpts embedded in Lora.Core (Lora.Core/Data/Resources/*.txt.gz) from Debian packages.
#
#   apt-get install -y bible-kjv bible-kjv-text dict-devil     # bible-kjv provides /usr/bin/bible, the decoder
#   tools/make_text_excerpts.sh
#
# kjv-genesis-exodus.txt.gz: the books of Genesis and Exodus of the King James Bible (1611), one verse per line,
#   as `bible -f` prints them without the leading reference ("Ge1:1 "). Text A of the embedding demo.
# kjv-alternate-chapters.txt.gz: every other chapter of the whole King James Bible (chapters 1, 3, 5, ... of its
#   1,189 counted in canonical order, Genesis 1 to Revelation 22: 595 chapters from 65 of the 66 books (all but the one-chapter letter 3 John)), one verse per line,
#   the same way. Text A of the rnn demo.
# devils-dictionary.txt.gz: The Devil's Dictionary (Ambrose Bierce, 1911; Internet Wiretap edition as packaged in
#   dict-devil), every entry from ABASEMENT to ZOOLOGY, lines unchanged; the dictd database header before the first
#   entry and dictfmt's alphabet line after the last are left out. Text B.
# The text is otherwise unchanged: Lora normalises it when loading (Lora.Core/Data/CharVocabulary.cs).
# gzip -n -9 omits the name and time stamp, so the output is byte-identical on every run.
set -euo pipefail
out="$(cd "$(dirname "$0")/.." && pwd)/Lora.Core/Data/Resources"
command -v bible >/dev/null || { echo "needs /usr/bin/bible (apt-get install -y bible-kjv bible-kjv-text)" >&2; exit 1; }
[ -f /usr/share/dictd/devil.dict.dz ] || { echo "needs /usr/share/dictd/devil.dict.dz (apt-get install -y dict-devil)" >&2; exit 1; }

# -f turns pretty-printing off: one verse per line, each preceded by its reference and one space.
bible -f Ge1:1-Exo40:38 | sed -E 's/^[1-3]?[A-Za-z]+[0-9]+:[0-9]+ //' > "$out/kjv-genesis-exodus.txt.tmp"
verses=$(wc -l < "$out/kjv-genesis-exodus.txt.tmp")
# Genesis has 1,533 verses and Exodus 1,213.
[ "$verses" -eq 2746 ] || { echo "expected 2746 verses, got $verses" >&2; exit 1; }
gzip -n -9 -c "$out/kjv-genesis-exodus.txt.tmp" > "$out/kjv-genesis-exodus.txt.gz"
rm "$out/kjv-genesis-exodus.txt.tmp"

# A chapter starts where the reference without its verse number ("Ge1", "1Sm12") changes.
bible -f Ge1:1-Re22:21 | awk '{ c = $1; sub(/:[0-9]+$/, "", c); if (c != prev) { n++; prev = c }
  if (n % 2 == 1) { sub(/^[^ ]+ /, ""); print } } END { if (n != 1189) { print "expected 1189 chapters, got " n > "/dev/stderr"; exit 1 } }' \
  > "$out/kjv-alternate-chapters.txt.tmp"
verses=$(wc -l < "$out/kjv-alternate-chapters.txt.tmp")
[ "$verses" -eq 15616 ] || { echo "expected 15616 verses in the alternate chapters, got $verses" >&2; exit 1; }
gzip -n -9 -c "$out/kjv-alternate-chapters.txt.tmp" > "$out/kjv-alternate-chapters.txt.gz"
rm "$out/kjv-alternate-chapters.txt.tmp"

# dictfmt's .dz is gzip-compatible; the entries run from the line "ABASEMENT, n." to the last line of ZOOLOGY
# ("… every two years."), after which dictfmt appends a blank line and its alphabet line " abcdef…".
zcat /usr/share/dictd/devil.dict.dz | sed -n '/^ABASEMENT, n\./,/every two years\.$/p' > "$out/devils-dictionary.txt.tmp"
entries=$(grep -cE '^[A-Z][A-Z '"'"'-]*[,.]' "$out/devils-dictionary.txt.tmp" || true)
[ "$entries" -gt 900 ] || { echo "expected over 900 entries in devil.dict, found $entries" >&2; exit 1; }
gzip -n -9 -c "$out/devils-dictionary.txt.tmp" > "$out/devils-dictionary.txt.gz"
rm "$out/devils-dictionary.txt.tmp"

sha256sum "$out/kjv-genesis-exodus.txt.gz" "$out/kjv-alternate-chapters.txt.gz" "$out/devils-dictionary.txt.gz"
