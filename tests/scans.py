"""Scanned pages whose text is known: rendered, tilted and speckled like a scan, for OCR tests and measurements."""

from __future__ import annotations

import io
import random
import textwrap

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from rag.ingest.ocr import CJK_SPACE

# Our own prose, not taken from any document the evaluation scores.
ENGLISH = (
    "The harbour office opens at seven in the morning and closes at half past four. Boats that arrive after "
    "closing tie up at the north quay and report to the night warden, whose cabin stands beside the crane. "
    "Fuel is sold by the litre; the price for members is 1.85 and for visitors 2.10. Anyone who sees oil on "
    "the water should call the office on channel 12 at once."
)
CHINESE = (
    "港口办公室早上七点开门，下午四点半关门。关门以后到达的船只请停靠北码头，并向守夜人报到，他的小屋就在吊车旁边。"
    "燃料按升出售，会员价格为一点八五元，访客价格为二点一元。任何人发现水面上有油污，都应立即通过十二频道通知办公室。"
)
DPI = 300
FONTS = {
    "en": "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "zh": "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
}
# Characters a line of 12 pt text holds on a 6-inch column.
LINE_CHARS = {"en": 60, "zh": 30}


def render(
    text: str, lang: str, *, points: float = 12, tilt: float = 0.6, blur: float = 0.8, seed: int = 1
) -> Image.Image:
    """`text` printed in `points` pt at 300 dpi, tilted by `tilt` degrees, blurred and speckled: a grayscale scan."""
    size = round(points * DPI / 72)
    font = ImageFont.truetype(FONTS[lang], size=size)
    width = round(LINE_CHARS[lang] * 12 / points)
    lines = [text[i : i + width] for i in range(0, len(text), width)] if lang == "zh" else textwrap.wrap(text, width)
    line_height = round(size * 1.6)
    page = Image.new("L", (2000, 200 + line_height * len(lines)), 255)
    draw = ImageDraw.Draw(page)
    for row, line in enumerate(lines):
        draw.text((100, 100 + row * line_height), line, font=font, fill=20)
    page = page.rotate(tilt, resample=Image.Resampling.BICUBIC, fillcolor=255).filter(ImageFilter.GaussianBlur(blur))
    rng = random.Random(seed)
    pixels = page.load()
    assert pixels is not None
    for _ in range(page.width * page.height // 400):
        x, y = rng.randrange(page.width), rng.randrange(page.height)
        pixels[x, y] = rng.choice((0, 255))
    return page


def image_bytes(page: Image.Image, fmt: str) -> bytes:
    """The page saved as "PNG", "JPEG" or "PDF" (an image-only PDF: no text layer), at 300 dpi."""
    out = io.BytesIO()
    page.save(out, fmt, resolution=DPI, dpi=(DPI, DPI), **({"quality": 85} if fmt == "JPEG" else {}))
    return out.getvalue()


def image_pdf(pages: list[Image.Image]) -> bytes:
    """An image-only PDF of `pages`, one image a page."""
    out = io.BytesIO()
    pages[0].save(out, "PDF", resolution=DPI, save_all=True, append_images=pages[1:])
    return out.getvalue()


def char_accuracy(expected: str, got: str) -> float:
    """1 - edit distance / length of `expected`, with runs of whitespace as one space and none beside Chinese."""
    a, b = _spaced(expected), _spaced(got)
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return max(0.0, 1 - previous[-1] / len(a))


def _spaced(text: str) -> str:
    return CJK_SPACE.sub("", " ".join(text.split()))
