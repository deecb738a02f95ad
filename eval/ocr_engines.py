"""Measure OCR engines on generated scans of known text: character accuracy and seconds per page.

    python eval/ocr_engines.py

Each page (tests/scans.py: an English and a Chinese paragraph, printed at 300 dpi, tilted, blurred and speckled)
is saved as an image-only PDF, rendered back by pdfium at 300 dpi as the reader does, and read by each engine:
Tesseract (the `tesseract` program, as `rag.ingest.ocr` runs it) with each language setting, and RapidOCR
(`rapidocr-onnxruntime`, PP-OCRv4 models in its wheel) when it is importable. Accuracy is 1 - edit distance /
length, with runs of whitespace as one space and none beside Chinese characters.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable

import numpy as np
import pypdfium2 as pdfium
from PIL import Image

from rag.ingest import ocr
from rag.settings import Settings
from tests.scans import CHINESE, ENGLISH, char_accuracy, image_pdf, render

PAGES = {"en": ENGLISH, "zh": CHINESE}


def engines() -> dict[str, Callable[[Image.Image], str]]:
    found: dict[str, Callable[[Image.Image], str]] = {}
    for languages in ("eng", "chi_sim", "eng+chi_sim", "chi_sim+eng"):
        settings = Settings(ocr_languages=languages)
        found[f"tesseract {languages}"] = lambda image, s=settings: ocr.read_image(image, "page", s).text
    try:
        rapid = importlib.import_module("rapidocr_onnxruntime").RapidOCR()
    except ImportError:
        return found

    def rapidocr(image: Image.Image) -> str:
        result, _ = rapid(np.asarray(image.convert("RGB")))
        return "\n".join(line[1] for line in result or [])

    found["rapidocr-onnxruntime"] = rapidocr
    return found


# A clean scan of 12 pt text, and a poor one of 9 pt text: tilted more, blurred more.
SCANS: dict[str, dict[str, float]] = {"12 pt": {}, "9 pt, poor": {"points": 9, "tilt": 1.5, "blur": 1.3}}


def rendered(lang: str, scan: dict[str, float]) -> Image.Image:
    document = pdfium.PdfDocument(image_pdf([render(PAGES[lang], lang, **scan)]))
    return document[0].render(scale=300 / 72, grayscale=True).to_pil()


def main() -> None:
    found = engines()
    for scan_label, scan in SCANS.items():
        images = {lang: rendered(lang, scan) for lang in PAGES}
        print(f"\n{scan_label:24} {'EN acc':>7} {'ZH acc':>7} {'s/page':>7}")
        for label, engine in found.items():
            accuracy: dict[str, float] = {}
            start = time.perf_counter()
            for lang, image in images.items():
                accuracy[lang] = char_accuracy(PAGES[lang], engine(image))
            seconds = (time.perf_counter() - start) / len(images)
            print(f"{label:24} {accuracy['en']:7.3f} {accuracy['zh']:7.3f} {seconds:7.2f}")


if __name__ == "__main__":
    main()
