"""A larger corpus for build benchmarks: the seeds repeated with light, deterministic perturbation."""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

NUMBER = re.compile(r"\d+")


def perturb(text: str, rng: random.Random) -> str:
    """The same text with its paragraphs shuffled and every number shifted, so no chunk repeats exactly."""
    paragraphs = re.split(r"\n\s*\n", text)
    rng.shuffle(paragraphs)
    shift = rng.randint(1, 9)
    return NUMBER.sub(lambda m: str(int(m.group()) + shift), "\n\n".join(paragraphs))


def grow_corpus(seeds: list[Path], copies: int, out: Path, seed: int = 0) -> Path:
    """Write the seed files plus `copies` perturbed copies of each into `out`."""
    rng = random.Random(seed)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for path in seeds:
        text = path.read_text("utf-8")
        (out / path.name).write_text(text, "utf-8")
        for k in range(copies):
            (out / f"{path.stem}-copy{k:03d}{path.suffix}").write_text(perturb(text, rng), "utf-8")
    return out
