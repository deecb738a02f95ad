"""Document names: the one rule for every way a name comes in (API and UI uploads, folder sync, `rag add`).

A name is the file's base name in Unicode NFC, so that a name that looks the same is the same document (macOS
file systems hand out "café" decomposed, browsers mostly send it composed). A name may not hold a character that
shows nothing or changes how the rest of it reads ("report", U+202E, "fdp.exe" shows as "reportexe.pdf"): control
characters, format characters (direction marks and overrides, zero widths, the soft hyphen, tags), line and
paragraph separators, private-use and unassigned code points, unpaired surrogates, and the other code points
Unicode says to draw as nothing (Default_Ignorable_Code_Point: fillers, variation selectors, U+034F).
"""

from __future__ import annotations

import unicodedata

from rag.errors import InputError

MAX_NAME_CHARS = 200
# What each refused general category is, as the refusal says it.
REFUSED_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible or text-direction character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Cs": "an unpaired surrogate",
}
# Default_Ignorable_Code_Point (Unicode's DerivedCoreProperties.txt) outside the categories above: letters and
# marks that draw as nothing. unicodedata does not expose the property.
IGNORABLE_RANGES = (
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180D),  # Mongolian free variation selectors one to three
    (0x180F, 0x180F),  # Mongolian free variation selector four
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors 1-16
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xE0100, 0xE01EF),  # variation selectors 17-256
)


def _refusal(char: str) -> str | None:
    """What is wrong with `char` in a name, or None when nothing is."""
    kind = REFUSED_CATEGORIES.get(unicodedata.category(char))
    if kind is None and any(low <= ord(char) <= high for low, high in IGNORABLE_RANGES):
        kind = "an invisible character"
    if kind is None:
        return None
    label = unicodedata.name(char, "")
    return f"U+{ord(char):04X}{f' ({label})' if label else ''}, {kind}"


def check_name(name: str) -> str:
    """A document name as stored: the file's base name (browsers may send a path), in NFC; InputError if unusable."""
    base = unicodedata.normalize("NFC", name.replace("\\", "/").rsplit("/", 1)[-1].strip())
    if not base or base in (".", "..") or base.startswith("."):
        raise InputError(f"{name!r} is not a usable document name; give the file a name such as report.pdf")
    for char in base:
        why = _refusal(char)
        if why is not None:
            # The code point, because the character itself shows as nothing: the user can find it and rename.
            raise InputError(f"the document name holds {why}; rename the file without it")
    if len(base) > MAX_NAME_CHARS:
        raise InputError(f"the document name is {len(base)} characters long; the limit is {MAX_NAME_CHARS}")
    return base
