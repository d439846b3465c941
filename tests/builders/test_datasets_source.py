"""Reading a source's rows from local JSON / JSONL / Parquet files, and the one-line errors."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from builders.sources.datasets import DatasetSource
from builders.sources.openapi_directory import SourceError

ROWS = [{"id": 0, "query": "q0", "answers": "[]", "tools": "[]"}, {"id": 1, "query": "q1", "answers": "[]", "tools": "[]"}]


def _source(path, **extra) -> DatasetSource:
    return DatasetSource.from_entry("xlam", {"format": "xlam", "license": "cc-by-4.0", "path": str(path), **extra})


@pytest.mark.parametrize("name, write", [
    ("rows.json", lambda p: p.write_text(json.dumps(ROWS, indent=2))),
    ("rows.jsonl", lambda p: p.write_text("".join(json.dumps(r) + "\n" for r in ROWS) + "\n")),
    ("lines.json", lambda p: p.write_text("".join(json.dumps(r) + "\n" for r in ROWS))),  # JSONL named .json
    ("rows.parquet", lambda p: pq.write_table(pa.Table.from_pylist(ROWS), p)),
])
def test_local_files(tmp_path, name, write):
    path = tmp_path / name
    write(path)
    assert list(_source(path).rows()) == ROWS


def test_entry_fields():
    src = DatasetSource.from_entry("tau", {"format": "taubench", "license": "mit", "path": "t.json", "tools": "tools.json"})
    assert (src.format, src.license, src.split, src.tools, src.hub_id) == ("taubench", "mit", "train", "tools.json", None)


@pytest.mark.parametrize("entry, problem", [
    ({"license": "mit", "path": "x.json"}, "has no 'format'"),
    ({"format": "xlam", "path": "x.json"}, "has no 'license'"),
    ({"format": "xlam", "license": "mit"}, "must name exactly one of 'path' and 'hub_id'"),
    ({"format": "xlam", "license": "mit", "path": "x", "hub_id": "a/b"}, "must name exactly one of 'path' and 'hub_id'"),
    ({"format": "xlam", "license": "mit", "path": "x", "url": "y"}, "has unknown key 'url'"),
])
def test_bad_entries(entry, problem):
    with pytest.raises(SourceError) as info:
        DatasetSource.from_entry("s", entry)
    assert info.value.item == "source 's'" and info.value.problem == problem


def test_file_errors(tmp_path):
    with pytest.raises(SourceError, match=r"source 'xlam' \(.*missing.json\): file not found; fix 'path'"):
        list(_source(tmp_path / "missing.json").rows())
    (tmp_path / "rows.csv").write_text("a,b\n")
    with pytest.raises(SourceError, match="unknown file type '.csv'"):
        list(_source(tmp_path / "rows.csv").rows())
    (tmp_path / "bad.jsonl").write_text('{"id": 0}\n{"id": \n')
    with pytest.raises(SourceError, match=r"bad.jsonl\) line 2: is not valid JSON"):
        list(_source(tmp_path / "bad.jsonl").rows())
    (tmp_path / "cut.json").write_text('[{"id": 0}, {"id"')
    with pytest.raises(SourceError, match=r"cut.json\): cannot be read \(JSONDecodeError"):
        list(_source(tmp_path / "cut.json").rows())
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(SourceError, match=r"bad.parquet\): cannot be read"):
        list(_source(tmp_path / "bad.parquet").rows())


@pytest.mark.parametrize("exc, problem, fix", [
    (ConnectionError("Max retries exceeded"), "the Hub is unreachable (ConnectionError)", "give 'path' instead of 'hub_id'"),
    ("gated", "is gated", "set HF_TOKEN"),
    (ValueError('Unknown split "dev". Should be one of [\'train\'].'), "cannot be loaded (Unknown split", "fix 'split'"),
])
def test_hub_errors(monkeypatch, exc, problem, fix):
    """No Hub at test time: load_dataset is replaced by one that fails the way the real one does."""
    import datasets
    from huggingface_hub.errors import GatedRepoError

    def fail(*args, **kwargs):
        if exc == "gated":
            import httpx2 as httpx
            request = httpx.Request("GET", "https://huggingface.co/api/datasets/Salesforce/APIGen-MT-5k")
            raise GatedRepoError("Access to dataset is restricted", response=httpx.Response(401, request=request))
        raise exc

    monkeypatch.setattr(datasets, "load_dataset", fail)
    src = DatasetSource.from_entry("apigen", {"format": "apigen_mt", "license": "cc-by-nc-4.0",
                                              "hub_id": "Salesforce/APIGen-MT-5k"})
    with pytest.raises(SourceError) as info:
        list(src.rows())
    assert info.value.item == "source 'apigen' (Salesforce/APIGen-MT-5k)"
    assert info.value.problem.startswith(problem) and fix in info.value.fix


def test_hub_rows_pass_through(monkeypatch):
    import datasets

    calls = []
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: calls.append((a, k)) or datasets.Dataset.from_list(ROWS))
    src = DatasetSource.from_entry("x", {"format": "xlam", "license": "cc-by-4.0", "hub_id": "Salesforce/xlam",
                                         "split": "train", "revision": "v1"})
    assert list(src.rows()) == ROWS
    assert calls == [(("Salesforce/xlam",), {"split": "train", "revision": "v1", "token": "hf_test"})]
