"""Document metadata (tags and key–value pairs given when a document is added) and the filters over it.

A `Filter` names what a question may draw on: documents by name or glob, language, format, tags, values of the
metadata (one value, any of a list, or a range of numbers or dates) and the time a document was added. It is
checked strictly, so that a typo is an error naming the field rather than a filter that quietly keeps nothing.
Retrieval turns it into the documents it keeps (`Filter.keeps`), and every search runs inside them.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)

from rag.errors import InputError
from rag.ingest import SUPPORTED

if TYPE_CHECKING:
    from rag.snapshot import DocumentInfo

# A metadata value: a string, a number or a yes/no. Strict, so that "2024" and 2024 stay apart as given.
MetaValue = StrictStr | StrictInt | StrictFloat | StrictBool
Meta = dict[str, MetaValue]
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
MAX_KEYS = 64
MAX_TAGS = 64
MAX_TAG_CHARS = 64
MAX_VALUE_CHARS = 1000


def check_tags(tags: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Tags as stored: stripped, each once, in the order given; InputError on an empty or over-long one."""
    out = tuple(dict.fromkeys(t.strip() for t in tags))
    if len(out) > MAX_TAGS:
        raise InputError(f"a document takes at most {MAX_TAGS} tags, got {len(out)}")
    for tag in out:
        if not tag or len(tag) > MAX_TAG_CHARS or "," in tag:
            raise InputError(f"tag {tag!r}: a tag is 1 to {MAX_TAG_CHARS} characters with no comma")
    return out


def check_meta(meta: Mapping[str, Any]) -> Meta:
    """Key–value metadata as stored; InputError naming the key that is not a name or whose value is no scalar."""
    if len(meta) > MAX_KEYS:
        raise InputError(f"a document takes at most {MAX_KEYS} metadata keys, got {len(meta)}")
    out: Meta = {}
    for key, value in meta.items():
        if not isinstance(key, str) or not KEY.fullmatch(key):
            raise InputError(f"metadata key {key!r}: a key is a letter or _, then letters, digits, _ . or -")
        if not isinstance(value, str | int | float | bool) or (isinstance(value, float) and value != value):
            raise InputError(f"metadata {key}: a value is a string, a number or true/false, got {value!r}")
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            raise InputError(f"metadata {key}: a value holds at most {MAX_VALUE_CHARS} characters")
        out[key] = value
    return out


def parse_meta(text: str) -> Meta:
    """Metadata given as a JSON object (`-F meta='{"year": 2024}'`, `rag add --meta`)."""
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise InputError(f'meta is not JSON ({exc.msg}); give an object such as {{"year": 2024}}') from exc
    if not isinstance(data, dict):
        raise InputError('meta must be a JSON object such as {"year": 2024}')
    return check_meta(data)


def _instant(value: str) -> datetime:
    """An ISO 8601 date or time as an aware instant (UTC when it names no zone)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


Bound = StrictInt | StrictFloat | StrictStr


class Range(BaseModel):
    """Bounds on a number or a date (ISO 8601: "2024-01-01", "2024-06-30T12:00:00Z"); at least one is given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gte: Bound | None = None
    gt: Bound | None = None
    lte: Bound | None = None
    lt: Bound | None = None

    @property
    def bounds(self) -> list[Bound]:
        """The bounds given."""
        return [b for b in (self.gte, self.gt, self.lte, self.lt) if b is not None]

    @property
    def dated(self) -> bool:
        """Whether the bounds are dates (else numbers)."""
        return any(isinstance(b, str) for b in self.bounds)

    @model_validator(mode="after")
    def _bounds(self) -> Range:
        given = self.bounds
        if not given:
            raise ValueError("a range needs at least one of gte, gt, lte, lt")
        dates = [b for b in given if isinstance(b, str)]
        if dates and len(dates) != len(given):
            raise ValueError("a range's bounds are all numbers or all dates")
        for bound in dates:
            try:
                _instant(bound)
            except ValueError:
                raise ValueError(f"{bound!r} is no ISO 8601 date (2024-01-31 or 2024-01-31T09:00:00Z)") from None
        return self

    def holds(self, value: object) -> bool:
        """Whether `value` lies in the range: a number for numeric bounds, an ISO date for dates; else False."""
        point: float | datetime
        if self.dated:
            if not isinstance(value, str):
                return False
            try:
                point = _instant(value)
            except ValueError:
                return False
        elif isinstance(value, int | float) and not isinstance(value, bool):
            point = value
        else:
            return False

        def at(bound: Bound) -> float | datetime:
            return _instant(bound) if isinstance(bound, str) else bound

        checks = (
            (self.gte, lambda b: point >= b),
            (self.gt, lambda b: point > b),
            (self.lte, lambda b: point <= b),
            (self.lt, lambda b: point < b),
        )
        return all(bound is None or test(at(bound)) for bound, test in checks)


Condition = MetaValue | list[MetaValue] | Range
OneOrMore = Annotated[list[str], Field(min_length=1)]


class Filter(BaseModel):
    """Which documents a question may draw on; every given field must hold (an empty filter keeps them all).

    `documents`: names or globs (`2024-*.pdf`), any of them; `language`, `format`: any of them; `tags`: all of
    them; `meta`: per key a value, a list of values (any) or a `Range`; `added`: a `Range` of dates.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    documents: OneOrMore | None = Field(default=None, description="Document names or globs; any of them.")
    language: list[Literal["en", "zh"]] | None = Field(default=None, min_length=1, description="Any of these.")
    format: list[str] | None = Field(default=None, min_length=1, description="Any of these (pdf, docx, html, …).")
    tags: OneOrMore | None = Field(default=None, description="Tags the document has, every one of them.")
    meta: dict[str, Condition] | None = Field(
        default=None, description="Per metadata key: a value, a list of values (any of them) or a range."
    )
    added: Range | None = Field(default=None, description="When the document was added (dates).")

    @field_validator("meta", mode="before")
    @classmethod
    def _conditions(cls, value: object) -> object:
        # Each condition is told apart by its shape here, so that an error names the key and what is wrong with
        # it, not every branch of the union it failed.
        if not isinstance(value, dict):
            return value
        out: dict[object, object] = {}
        for key, condition in value.items():
            if isinstance(condition, dict):
                try:
                    out[key] = Range.model_validate(condition)
                except ValidationError as exc:
                    raise ValueError(f"{key}: {_problems(exc)}") from None
            elif isinstance(condition, list):
                if not condition or not all(_scalar(v) for v in condition):
                    raise ValueError(f"{key}: a list of values holds at least one string, number or true/false")
                out[key] = condition
            elif _scalar(condition):
                out[key] = condition
            else:
                raise ValueError(f'{key}: give a value, a list of values or a range such as {{"gte": 2023}}')
        return out

    @field_validator("added")
    @classmethod
    def _dates(cls, value: Range | None) -> Range | None:
        if value is not None and not value.dated:
            raise ValueError('the bounds of added are dates, such as {"gte": "2024-01-01"}')
        return value

    @field_validator("format")
    @classmethod
    def _formats(cls, value: list[str] | None) -> list[str] | None:
        known = sorted(set(SUPPORTED.values()))
        wrong = [f for f in value or [] if f not in known]
        if wrong:
            raise ValueError(f"unknown format {', '.join(map(repr, wrong))}; the formats are {', '.join(known)}")
        return value

    @classmethod
    def of(cls, value: FilterLike) -> Filter | None:
        """A filter from itself, a mapping or JSON text; InputError naming the field that is wrong."""
        if value is None or isinstance(value, Filter):
            return value
        try:
            return cls.model_validate_json(value) if isinstance(value, str) else cls.model_validate(value)
        except ValidationError as exc:
            raise InputError(_problems(exc, "filter")) from None

    def keeps(self, doc: DocumentInfo) -> bool:
        """Whether `doc` passes every condition."""
        if self.documents is not None and not any(fnmatch.fnmatchcase(doc.name, g) for g in self.documents):
            return False
        if self.language is not None and doc.language not in self.language:
            return False
        if self.format is not None and doc.format not in self.format:
            return False
        if self.tags is not None and not set(self.tags) <= set(doc.tags):
            return False
        if self.added is not None and not self.added.holds(doc.added):
            return False
        return all(key in doc.meta and _matches(doc.meta[key], c) for key, c in (self.meta or {}).items())

    def key(self) -> str:
        """The filter as canonical JSON: equal filters, equal keys."""
        return json.dumps(self.model_dump(exclude_none=True), sort_keys=True, ensure_ascii=False)


FilterLike = Filter | Mapping[str, Any] | str | None


def _scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool)


def _problems(exc: ValidationError, prefix: str = "") -> str:
    """A validation error as one line, each problem led by the field's dotted path."""
    out = []
    for e in exc.errors():
        path = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "")
        message = e["msg"].removeprefix("Value error, ")
        out.append(f"{path}: {message}" if path else message)
    return "; ".join(out)


def _matches(value: object, condition: Condition) -> bool:
    if isinstance(condition, Range):
        return condition.holds(value)
    options = condition if isinstance(condition, list) else [condition]
    # In Python True == 1: a yes/no matches only a yes/no, a number any equal number.
    return any(_kind(value) == _kind(o) and value == o for o in options)


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    return "number" if isinstance(value, int | float) else type(value).__name__
