"""Build versioned dataset releases from a preset and, optionally, push them to the Hub.

    python -m builders.release                       # the shipped default preset, offline
    python -m builders.release --preset my.yaml --datasets toolmind --push org/toolmind
    python -m builders.release --dry-run             # per step and LLM role: items, requests, tokens; sends nothing
    python -m builders.release --executor ray --shards 8   # pipeline shards as Ray tasks (RAY_ADDRESS or local)

A release folder is written next to the others as ``<output_dir>/<dataset>/v<version>/`` in the Hub
layout. It is assembled in a staging folder and moved into place only once it is complete and valid,
so a failed build never leaves a half-written release behind.

Datasets built by a runtime pipeline (ITC) keep their checkpoints, request caches and a
``run.json`` (wall time, cache hits, retries: figures of the run, not of the data) in a work
folder per dataset, ``<work-dir>/<dataset>`` (default ``build/work``). A killed build resumes
from it to the same bytes; a build stopped by a preset cap (``caps:``) resumes when it is raised.
The manifest's ``stats`` (items in / out / rejected by reason per step, LLM usage per role) depend
on the data only, so they are part of a release's content.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import logging
import os
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import builders
from builders.context import BuildContext
from builders.errors import BuildError
from builders.hub import PushError, push_release
from builders.contract import contract
from builders.parquet import sha256_file, write_split
from builders.preset import Preset, PresetError, load_preset, recorded
from builders.runtime import write_rejects
from builders.schema import SchemaError
from builders.sources.openapi_directory import SourceError
from builders.validate import ValidationError, validate_config
from cards.card import check_card, front_matter, previous_manifest, write_card

logger = logging.getLogger("builders.release")

# dataset name -> module with CONFIGS {config: (check(ctx, cfg, where), build(ctx, cfg, where) -> {split: rows})},
# TASK_CATEGORIES and TAGS; each config's rows follow its declaration in builders.contract. A dataset built by
# a runtime pipeline also has roles(ctx) (the LLM roles its steps call) and plan(ctx) (the --dry-run table).
DATASET_MODULES = {"toolmind": "toolmind.release", "itc": "itc.release"}


class ReleaseError(RuntimeError):
    """A release that cannot be written as asked; one line with what to do."""


@dataclass
class ReleaseResult:
    dataset: str
    version: str
    folder: Path
    status: str  # "built" | "unchanged"
    rows: dict[str, dict[str, int]]


def dataset_module(name: str, preset: Preset):
    if name not in DATASET_MODULES:
        raise PresetError(f"preset {preset.path}: dataset {name!r} has no builder; "
                          f"known datasets: {', '.join(sorted(DATASET_MODULES))}")
    return importlib.import_module(DATASET_MODULES[name])


def config_steps(ctx: BuildContext, name: str):
    """(config, settings, where, check, build) for every config of one dataset in the preset."""
    preset = ctx.preset
    module = dataset_module(name, preset)
    for config, cfg in preset.datasets[name].configs.items():
        where = f"datasets.{name}.configs.{config}"
        if config not in module.CONFIGS:
            raise PresetError(f"preset {preset.path} {where}: unknown config; {name} builds "
                              f"{', '.join(sorted(module.CONFIGS))}")
        contract(name, config)  # a builder whose config has no declaration is a bug, found before work
        check, build = module.CONFIGS[config]
        yield config, cfg, where, check, build


def declared_roles(ctx: BuildContext) -> set[str]:
    """The LLM roles the preset's pipelines call; ``llm.roles`` may configure only these (and ``default``)."""
    roles: set[str] = set()
    for name in ctx.preset.datasets:
        hook = getattr(dataset_module(name, ctx.preset), "roles", None)
        roles.update(hook(ctx) if hook else ())
    return roles


def check_preset(ctx: BuildContext) -> None:
    """Every dataset, config and option of the preset (selected or not), checked before the first build."""
    ctx.declare_roles(declared_roles(ctx))
    for name in ctx.preset.datasets:
        for config, cfg, where, check, _ in config_steps(ctx, name):
            check(ctx, cfg, where)


def build_tables(ctx: BuildContext, name: str) -> dict[str, dict[str, pa.Table]]:
    """Run every config of one dataset; returns config -> split -> table in the declared schema."""
    tables = {}
    for config, cfg, where, _, build in config_steps(ctx, name):
        logger.info("building %s/%s", name, config)
        spec = contract(name, config)
        splits = build(ctx, cfg, where)
        try:
            tables[config] = {split: spec.table(rows, f"dataset {name} config {config} split {split}")
                              for split, rows in splits.items()}
        except SchemaError as exc:
            raise ValidationError(str(exc)) from None
        validate_config(name, config, tables[config])
    return tables


def write_release(ctx: BuildContext, name: str, tables: dict[str, dict[str, pa.Table]], folder: Path,
                  repo_id: str | None = None) -> dict:
    """Write data, card, rejects and manifest into ``folder``; returns the manifest.

    ``repo_id`` is the Hub repo the card's loading example names (``--push``; else the preset's).
    """
    preset = ctx.preset
    dcfg = preset.datasets[name]
    module = dataset_module(name, preset)
    files: dict[str, dict] = {}
    rows: dict[str, dict[str, int]] = {}
    for config, splits in tables.items():
        rows[config] = {}
        for split, table in splits.items():
            paths = write_split(table, folder / "data" / config, split, preset.max_shard_bytes,
                                contract(name, config).schema)
            rows[config][split] = table.num_rows
            for p in paths:
                files[p.relative_to(folder).as_posix()] = {"rows": pq.ParquetFile(p).metadata.num_rows}

    write_rejects(folder / "rejects.jsonl", ctx.rejects.items)  # by (step, item id): the same after a resume
    files["rejects.jsonl"] = {"rows": len(ctx.rejects)}
    sources = {s: ctx.source_versions.get(s, preset.sources[s].path) for s in sorted(ctx.sources_used)}
    total = sum(n for c in rows.values() for n in c.values())
    digest, models = code_digest(), model_names(preset)
    manifest = {
        "dataset": name, "version": preset.version, "preset_name": preset.name, "seed": preset.seed,
        "package": "toolmind-builders", "package_version": builders.__version__, "code_sha256": digest,
        "sources": sources, "models": models, "rows": rows, "rejects": ctx.rejects.counts(),
        **({"stats": ctx.stats[name]} if name in ctx.stats else {}),
        "files": {}, "preset": recorded(preset),
    }
    meta = front_matter(configs={c: list(s) for c, s in tables.items()}, default_config="default" if "default" in tables else next(iter(tables)),
                        license=dcfg.license, languages=dcfg.languages, task_categories=module.TASK_CATEGORIES,
                        tags=module.TAGS, pretty_name=dcfg.pretty_name, total_rows=total)
    previous = previous_manifest(previous_release(folder.parent, name, preset.version))
    for rel in write_card(folder, manifest, meta=meta, description=dcfg.description.strip(),
                          repo_id=repo_id or dcfg.repo_id or f"<org>/{name}", previous=previous):
        files[rel] = {}

    for rel, entry in files.items():
        path = folder / rel
        entry.update({"sha256": sha256_file(path), "bytes": path.stat().st_size})
    manifest["files"] = dict(sorted(files.items()))
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False) + "\n",
                                          encoding="utf-8")
    check_card(folder)  # the card's snippet runs and its numbers agree with the data, or nothing is released
    return manifest


def previous_release(dataset_dir: Path, name: str, version: str) -> Path | None:
    """The newest release of ``name`` below ``version`` next to this one: what the changelog compares with."""
    def key(v: str) -> tuple:
        return tuple(int(p) if p.isdigit() else 0 for p in v.split("-")[0].split("."))

    older = [p for p in dataset_dir.glob("v*") if p.is_dir() and (p / "manifest.json").is_file()
             and key(p.name[1:]) < key(version)]
    return max(older, key=lambda p: key(p.name[1:])) if older else None


def model_names(preset: Preset) -> dict[str, str]:
    """Which model each LLM role used, for the card and manifest (never endpoints' keys)."""
    roles = (preset.llm or {}).get("roles") or {}
    return {role: str(cfg.get("model")) for role, cfg in sorted(roles.items()) if isinstance(cfg, dict)}


# what a release's content is: its data files and what the manifest says built them, but not the code
# digest or package version (a comment edit changes those) nor the card, which renders from the rest
_RUN_DEPENDENT = ("code_sha256", "package_version", "files")
_DERIVED_FILES = ("README.md",)  # and plots/*.png: rendered from the data


def content_of(folder: Path) -> dict:
    """The part of a release that must match for two builds to be the same version."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return {"files": {k: v["sha256"] for k, v in manifest["files"].items()
                      if k not in _DERIVED_FILES and not k.startswith("plots/")},
            **{k: v for k, v in manifest.items() if k not in _RUN_DEPENDENT}}


def same_content(a: Path, b: Path) -> bool:
    return (a / "manifest.json").is_file() and content_of(a) == content_of(b)


def refresh_card(final: Path, staging: Path) -> bool:
    """Same data, new card or code: take the new README and manifest in place; True when any changed."""
    changed = False
    rels = ["README.md", *sorted(p.relative_to(staging).as_posix() for p in (staging / "plots").glob("*.png")),
            "manifest.json"]  # the manifest last: it names the others' hashes
    for rel in rels:
        if not (final / rel).is_file() or (final / rel).read_bytes() != (staging / rel).read_bytes():
            (final / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, final / rel)
            changed = True
    return changed


def code_digest() -> str:
    """sha256 over the code and templates that shape a release, so a manifest names the code that built it."""
    h = hashlib.sha256()
    for package in ("builders", "toolmind", "itc", "cards"):
        root = Path(importlib.import_module(package).__file__).parent
        for path in sorted(p for p in root.rglob("*") if p.suffix in (".py", ".j2", ".yaml", ".jinja", ".txt")
                           and "__pycache__" not in p.parts):
            h.update(f"{package}/{path.relative_to(root).as_posix()}\0".encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def remove_stale_staging(folder: Path) -> None:
    """Staging folders of builds that were killed: their process is gone, so nobody will finish them."""
    for stale in folder.glob(".v*.partial-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() or pid == str(os.getpid()):
            logger.info("removing %s, left by a build that was stopped", stale)
            shutil.rmtree(stale, ignore_errors=True)


def check_push_target(template: str, names: list[str]) -> None:
    """A bad repo id fails before the build, not after hours of it."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if len(names) > 1 and "{dataset}" not in template:
        raise ReleaseError(f"--push {template} names one repo but {len(names)} datasets are selected; "
                           "pass --datasets NAME or use {dataset} in the repo name")
    for name in names:
        repo_id = template.format(dataset=name)
        try:
            validate_repo_id(repo_id)
        except HFValidationError as exc:
            raise ReleaseError(f"--push {repo_id!r} is not a Hub repo id ({exc}); write ORG/NAME") from None
        if "/" not in repo_id:
            raise ReleaseError(f"--push {repo_id!r} has no organisation; write ORG/NAME")


def release_dataset(ctx: BuildContext, name: str, output_dir: Path, repo_id: str | None = None) -> ReleaseResult:
    version = ctx.preset.version
    final = output_dir / name / f"v{version}"
    staging = output_dir / name / f".v{version}.partial-{os.getpid()}"
    remove_stale_staging(output_dir / name)
    ctx.start_dataset()
    try:
        tables = build_tables(ctx, name)
        staging.mkdir(parents=True)
        manifest = write_release(ctx, name, tables, staging, repo_id)
        if final.exists():
            if not same_content(final, staging):
                raise ReleaseError(f"release {final} already exists with different content; bump 'version' in "
                                   f"preset {ctx.preset.path}, or build into another --output-dir")
            if refresh_card(final, staging):
                logger.info("%s: same data; card and manifest updated (code or repo id changed)", final)
            shutil.rmtree(staging)
            return ReleaseResult(name, version, final, "unchanged", manifest["rows"])
        staging.rename(final)
        return ReleaseResult(name, version, final, "built", manifest["rows"])
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def how_to_load(result: ReleaseResult) -> str:
    lines = [f"{result.dataset} v{result.version} ({result.status}) at {result.folder}"]
    for config, splits in result.rows.items():
        counts = ", ".join(f"{s}: {n} rows" for s, n in splits.items())
        lines.append(f"  {config}: {counts}")
    first = "default" if "default" in result.rows else next(iter(result.rows))
    lines += ["  load it with:",
              f"    datasets.load_dataset({str(result.folder)!r}, {first!r})",
              f"    polars.read_parquet({str(result.folder / 'data' / first / '*.parquet')!r})"]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m builders.release", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default=None,
                   help="preset name shipped in builders/presets (default: 'default') or a path to a YAML file")
    p.add_argument("--datasets", default=None,
                   help="comma-separated datasets of the preset to build (default: all of them)")
    p.add_argument("--output-dir", default=None, help="where release folders go (default: the preset's output_dir)")
    p.add_argument("--push", default=None, metavar="ORG/NAME",
                   help="push the built release to this Hub dataset repo (HF_ENDPOINT and HF_TOKEN are honoured); "
                        "with several datasets, use {dataset} in the name, e.g. myorg/{dataset}")
    p.add_argument("--private", action="store_true", help="create the Hub repo as private")
    p.add_argument("--dry-run", action="store_true",
                   help="print, per dataset, step and LLM role, the planned items, requests and tokens; "
                        "send no request and write no release")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="where pipeline shards run: in this process, or as Ray tasks (extra [ray]; joins RAY_ADDRESS "
                        "or starts a local Ray); both give the same bytes")
    p.add_argument("--shards", type=int, default=1, help="split pipeline items into N shards by id hash (default 1)")
    p.add_argument("--work-dir", default="build/work",
                   help="checkpoints, request caches and run.json, one folder per dataset (default build/work; "
                        "a preset config's work_dir wins); shared storage when shards run on a cluster")
    p.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> list[ReleaseResult]:
    preset = load_preset(args.preset)
    names = [d.strip() for d in args.datasets.split(",")] if args.datasets else list(preset.datasets)
    unknown = [d for d in names if d not in preset.datasets]
    if unknown:
        raise PresetError(f"--datasets {unknown[0]!r} is not in preset {preset.path}; "
                          f"it has {', '.join(preset.datasets)}")
    if args.push:
        check_push_target(args.push, names)
    output_dir = Path(args.output_dir or preset.output_dir)
    ctx = BuildContext(preset=preset, work_root=Path(args.work_dir), executor=args.executor, shards=args.shards)
    results = []
    try:
        check_preset(ctx)
        if args.dry_run:
            for name in names:
                hook = getattr(dataset_module(name, preset), "plan", None)
                print(f"{name}: " + ("no LLM steps; builds from its sources" if hook is None else f"\n{hook(ctx)}"),
                      flush=True)
            return results
        for name in names:
            repo_id = args.push.format(dataset=name) if args.push else None
            result = release_dataset(ctx, name, output_dir, repo_id)
            print(how_to_load(result), flush=True)
            results.append(result)
    finally:
        ctx.close()
    if args.push:
        for result in results:
            repo_id = args.push.format(dataset=result.dataset)
            pushed = push_release(result.folder, repo_id, private=args.private)
            print(f"pushed {result.dataset} v{result.version} to {repo_id} ({pushed.status}, tag {pushed.tag}); "
                  f"load it with datasets.load_dataset({repo_id!r}, revision={pushed.tag!r})", flush=True)
    return results


USER_ERRORS = (BuildError, ReleaseError, ValidationError, SchemaError, SourceError, PushError)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # a stopped build (SIGTERM) cleans up like Ctrl-C: staging removed, embedded model server stopped
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        run(args)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; nothing was released (run again to resume)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
