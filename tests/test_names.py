"""One name rule for every way a document name comes in: NFC, and nothing that draws as nothing or turns text."""

from __future__ import annotations

import unicodedata

import pytest

from rag.errors import InputError
from rag.names import check_name

CAFE = "caf\u00e9.txt"
# Each was accepted as a name before, and each makes a name look like another or like nothing at all.
INVISIBLE = [
    0x061C,  # Arabic letter mark
    0x2060,  # word joiner
    0x00AD,  # soft hyphen
    0x180E,  # Mongolian vowel separator
    0xE0001,  # language tag
    0xE0041,  # tag Latin capital letter A
    0xE007F,  # cancel tag
    0x2028,  # line separator
    0x2029,  # paragraph separator
    0x0085,  # next line (C1)
    0x009B,  # control sequence introducer (C1)
    0x3164,  # Hangul filler
    0x034F,  # combining grapheme joiner
    0x115F,  # Hangul choseong filler
    0xFFA0,  # halfwidth Hangul filler
    0x180B,  # Mongolian free variation selector one
    0xFE0F,  # variation selector 16
    0xE0100,  # variation selector 17
    0xE000,  # private use
    0x0378,  # unassigned
    0x202E,  # right-to-left override
    0x200B,  # zero width space
    0xD800,  # unpaired surrogate
]


@pytest.mark.parametrize("code", INVISIBLE, ids=[f"U+{c:04X}" for c in INVISIBLE])
def test_a_name_with_an_invisible_or_turning_character_is_refused_naming_its_code_point(code: int) -> None:
    with pytest.raises(InputError, match=f"U\\+{code:04X}") as refused:
        check_name(f"report{chr(code)}2024.txt")
    assert "rename the file" in str(refused.value)


def test_names_are_stored_in_nfc() -> None:
    decomposed = unicodedata.normalize("NFD", CAFE)
    assert decomposed != CAFE
    assert check_name(decomposed) == check_name(CAFE) == CAFE
    assert check_name("dir/Cafe\u0301 menu.pdf") == "Caf\u00e9 menu.pdf"


def test_ordinary_names_in_any_script_pass() -> None:
    for name in ("报告 2024.pdf", "naïve résumé.docx", "Ελληνικά.md", "한국어 문서.txt", "سلام.html", "a-b_c (1).txt"):
        assert check_name(name) == name
