"""What a write tells its caller: the documents it changed, and what a rebuild of a damaged catalog would drop."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WriteReport:
    """What a write did, by document name."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # (name, why) for each file that could not be read; the rest of the write went ahead.
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the write changed the collection."""
        return bool(self.added or self.replaced or self.removed)

    def summary(self) -> str:
        """One line for a log or a terminal."""
        parts = [f"{len(self.added)} added", f"{len(self.replaced)} replaced", f"{len(self.removed)} removed"]
        parts.append(f"{len(self.unchanged)} unchanged")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped ({', '.join(n for n, _ in self.skipped)})")
        return ", ".join(parts)


@dataclass(frozen=True)
class Damage:
    """Why a catalog cannot be read, and the documents a rebuild from the corpus folder would drop.

    `dropped` is None when not even the names can be read from it.
    """

    reason: str
    dropped: list[str] | None

    def warning(self, where: str) -> str:
        """What a rebuild would do, for the user to agree to."""
        if self.dropped is None:
            lost = (
                "Which documents it held cannot be read: any that were uploaded or added with `rag add` would no "
                "longer be in the index."
            )
        elif self.dropped:
            lost = f"It would drop {len(self.dropped)} documents that are not in the corpus folder: "
            lost += ", ".join(self.dropped) + "."
        else:
            lost = "Every document it lists is in the corpus folder: none is dropped."
        return (
            f"{self.reason}\nA rebuild moves it aside in {where} (the file is kept) and indexes the corpus folder "
            f"again. {lost}"
        )
