"""Published tool-use datasets as a release reads them: a local JSON / JSONL / Parquet file or a Hub id.

A preset source entry names the row ``format`` (the normaliser that reads it), where the rows are
(``path`` or ``hub_id`` with ``split`` and an optional ``revision``), the source's ``license`` and,
for formats whose rows carry no tool schemas (tau-bench), a ``tools`` file. Local files are read
without the ``datasets`` library so a build works offline; a Hub id goes through
``datasets.load_dataset`` (``HF_TOKEN`` for gated datasets such as APIGen-MT-5k). Every failure is
one :class:`SourceError` line: which source, what is wrong, what to do.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from builders.sources.openapi_directory import SourceError

_SUFFIXES = (".json", ".jsonl", ".parquet")
_KEYS = {"format", "path", "hub_id", "split", "revision", "license", "tools"}


@dataclass(frozen=True)
class DatasetSource:
    """One open-source dataset named in the preset."""

    name: str
    format: str
    license: str
    path: str | None = None
    hub_id: str | None = None
    split: str = "train"
    revision: str | None = None
    tools: str | None = None

    @property
    def item(self) -> str:
        return f"source {self.name!r} ({self.path or self.hub_id})"

    @classmethod
    def from_entry(cls, name: str, entry: Any) -> "DatasetSource":
        item = f"source {name!r}"
        if not isinstance(entry, dict):
            raise SourceError(item, f"must be a mapping, got {type(entry).__name__}",
                              "give format, path or hub_id, split and license")
        unknown = sorted(set(entry) - _KEYS)
        if unknown:
            raise SourceError(item, f"has unknown key {unknown[0]!r}", f"use only {', '.join(sorted(_KEYS))}")
        for key in ("format", "license"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise SourceError(item, f"has no {key!r}", f"name the source's {key} (e.g. format: xlam, license: cc-by-4.0)")
        if bool(entry.get("path")) == bool(entry.get("hub_id")):
            raise SourceError(item, "must name exactly one of 'path' and 'hub_id'",
                              "give a local file path or a Hub dataset id, not both")
        return cls(name=name, **{k: (str(v) if v is not None else None) for k, v in entry.items()})

    def rows(self) -> Iterator[dict]:
        """The rows exactly as the source publishes them."""
        return _read_file(self) if self.path else _read_hub(self)


def _read_file(src: DatasetSource) -> Iterator[dict]:
    path = Path(src.path)
    if not path.is_file():
        raise SourceError(src.item, "file not found", "fix 'path' in the preset or download the file first")
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise SourceError(src.item, f"unknown file type {suffix!r}", f"give a {', '.join(_SUFFIXES)} file")
    try:
        if suffix == ".parquet":
            yield from _parquet_rows(path)
        else:
            yield from _json_rows(path, src)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, SourceError):
            raise
        raise SourceError(src.item, f"cannot be read ({type(exc).__name__}: {str(exc)[:200]})",
                          "check that the file is complete and in the format its name says") from None


def _json_rows(path: Path, src: DatasetSource) -> Iterator[dict]:
    """A JSON list, or JSON Lines (the Hub often names JSONL files ``.json``)."""
    with path.open(encoding="utf-8") as f:
        head = ""
        while not head.strip() and (chunk := f.read(1)):
            head += chunk
        f.seek(0)
        if head.strip() == "[":
            data = json.load(f)
            yield from _objects(data, src)
            return
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SourceError(f"{src.item} line {n}", f"is not valid JSON ({exc.msg})",
                                      "repair or remove the line") from None
                yield from _objects([row], src)


def _objects(rows: Any, src: DatasetSource) -> Iterator[dict]:
    if not isinstance(rows, list):
        raise SourceError(src.item, f"holds a JSON {type(rows).__name__}, not rows", "store a list of row objects")
    yield from rows


def _parquet_rows(path: Path) -> Iterator[dict]:
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        yield from batch.to_pylist()


def _read_hub(src: DatasetSource) -> Iterator[dict]:
    import datasets
    from huggingface_hub.errors import GatedRepoError, OfflineModeIsEnabled, RepositoryNotFoundError

    try:
        ds = datasets.load_dataset(src.hub_id, split=src.split, revision=src.revision,
                                   token=os.environ.get("HF_TOKEN") or None)
    except GatedRepoError:
        raise SourceError(src.item, "is gated", "accept its terms on the Hub and set HF_TOKEN") from None
    except (OfflineModeIsEnabled, ConnectionError) as exc:
        raise SourceError(src.item, f"the Hub is unreachable ({type(exc).__name__})",
                          "download the file and give 'path' instead of 'hub_id'") from None
    except (RepositoryNotFoundError, datasets.exceptions.DatasetNotFoundError, FileNotFoundError) as exc:
        raise SourceError(src.item, f"not found on the Hub ({str(exc).splitlines()[0][:160]})",
                          "fix 'hub_id', or set HF_TOKEN when it is gated") from None
    except ValueError as exc:  # e.g. an unknown split
        raise SourceError(src.item, f"cannot be loaded ({str(exc).splitlines()[0][:200]})",
                          "fix 'split' / 'revision' in the preset") from None
    yield from ds
