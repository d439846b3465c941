"""Dataset cards: YAML front matter the Hub reads (configs, license, sizes) and a body from a template."""

from __future__ import annotations

import json
import re
import tempfile
from importlib import resources
from pathlib import Path

import jinja2
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from builders.errors import BuildError
from cards import stats as stats_mod
from cards.stats import size_category


def front_matter(*, configs: dict[str, list[str]], default_config: str, license: str, languages: list[str],
                 task_categories: list[str], tags: list[str], pretty_name: str, total_rows: int) -> dict:
    """``configs`` maps each config to its splits; data files follow the Hub layout of builders.parquet."""
    return {
        "pretty_name": pretty_name,
        "license": license,
        "language": languages,
        "task_categories": task_categories,
        "tags": tags,
        "size_categories": [size_category(total_rows)],
        "configs": [
            {"config_name": name, **({"default": True} if name == default_config else {}),
             "data_files": [{"split": s, "path": f"data/{name}/{s}-*.parquet"} for s in splits]}
            for name, splits in configs.items()
        ],
    }


def _environment() -> jinja2.Environment:
    loader = jinja2.FunctionLoader(
        lambda name: (resources.files("cards") / "templates" / name).read_text(encoding="utf-8"))
    return jinja2.Environment(loader=loader, undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True)


def contract_notes(contracts: dict, stats: dict) -> dict:
    """What the card says about the published columns, derived from the contract and the data only."""
    columns = [c for spec in contracts.values() for c in spec.columns]
    return {"message_columns": any(t == "list<message>" for spec in contracts.values()
                                   for _, t, _ in spec.schema_rows()),
            "json_columns": sorted({c.name for c in columns if "JSON" in c.doc}),
            "renamed": sum(st.get("renamed", 0) for st in stats.values())}


def render_card(template: str, meta: dict, **context) -> str:
    """``context`` holds ``contracts`` (config -> builders.contract.ConfigContract) and ``stats``."""
    context.update(contract_notes(context["contracts"], context["stats"]))
    context.setdefault("facts", None)
    context.setdefault("load_snippet", load_snippet(context["repo_id"], list(context["stats"]), context["version"]))
    body = _environment().get_template(template).render(meta=meta, **context)
    head = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{head}---\n\n{body}"


# --- the full card of a release folder: facts from the data and manifest, plots, snippets, checks ------

class CardError(BuildError):
    """A card that would tell users something the release does not hold, or a licence it cannot carry."""


# source name pattern (lower case, first match wins) -> licence; None: made by this project, under the release's
SOURCE_LICENSES = (
    ("apigen-mt", "cc-by-nc-4.0"),
    ("xlam", "cc-by-4.0"),
    ("glaive", "apache-2.0"),
    ("toolace", "apache-2.0"),
    ("openapi", "each API under its provider's terms (catalog: APIs.guru, CC0-1.0)"),
    ("apis.guru", "each API under its provider's terms (catalog: APIs.guru, CC0-1.0)"),
)
NON_COMMERCIAL = re.compile(r"(^|[-_ ])nc([-_ ]|$)|non-?commercial", re.IGNORECASE)
DESCRIPTION = ("<!-- description:begin -->", "<!-- description:end -->")
CHANGELOG = ("<!-- changelog:begin -->", "<!-- changelog:end -->")
DEFAULT_SFT_MODEL = "Qwen/Qwen3-0.6B"  # a Qwen3-style template keeps string tool-call arguments as they are
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_REPO = re.compile(r'load_dataset\(\s*"([^"]+)"')
CITATIONS = (
    ("tltraining", "TL-Training: A Task-Feature-Based Framework for Training Large Language Models in Tool Use",
     "Anonymous (ACL submission)", "MAE loss masking, PKT key-token weighting and the IRM reward"),
    ("toolmind", "ToolMind Technical Report: A Large-Scale, Reasoning-Enhanced Tool-Use Dataset",
     "Chen Yang and Ran Le and Yun Xing and Zhenwei An and Zongchao Chen and Wayne Xin Zhao and Yang Song "
     "and Tao Zhang", "function graph, multi-agent simulation, turn-level filtering"),
    ("itc", "Enhancing Tool Calling in LLMs with the International Tool Calling Dataset",
     "Zuoyu Zhang and Yancheng Zhu", "real-API catalog, four task types, multilingual queries, API-level split"),
)


def source_license(source: str, release_license: str) -> str:
    low = source.lower()
    for pattern, lic in SOURCE_LICENSES:
        if pattern in low:
            return lic
    return release_license


def check_license(release_license: str, sources, declared: dict[str, str] | None = None) -> None:
    """A release that holds a non-commercial source cannot be published under a permissive licence.

    ``declared``: source -> licence as the build recorded it (``manifest["stats"]["sources"]``); it wins
    over the name patterns of :data:`SOURCE_LICENSES`."""
    if NON_COMMERCIAL.search(release_license):
        return
    declared = declared or {}
    for source in sources:
        lic = declared.get(source) or source_license(source, release_license)
        if NON_COMMERCIAL.search(lic):
            raise CardError(f"source {source!r}", f"is licensed {lic} (non-commercial) but the release would be "
                            f"published as {release_license}",
                            "set the dataset's license to cc-by-nc-4.0 in the preset, or drop the source")


def flatten(value, prefix: str = "") -> dict[str, object]:
    """Nested settings as dotted paths -> leaf values (lists stay whole)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def judges_and_thresholds(preset: dict) -> list[tuple[str, object]]:
    """Every preset setting that names a judge or a threshold (keep / reject cut-offs)."""
    keys = re.compile(r"judge|threshold|min_score|min_|tau|cutoff", re.IGNORECASE)
    return [(k, v) for k, v in sorted(flatten(preset).items()) if keys.search(k.rsplit(".", 1)[-1])]


def changelog(manifest: dict, previous: dict | None) -> list[str]:
    """What changed against the previous release's manifest: rows, sources, models and settings."""
    if not previous:
        return []
    lines = [f"against v{previous.get('version')}:"]
    old_rows, new_rows = previous.get("rows", {}), manifest.get("rows", {})
    for config in list(new_rows) + [c for c in old_rows if c not in new_rows]:
        for split in sorted(set(new_rows.get(config, {})) | set(old_rows.get(config, {}))):
            a, b = old_rows.get(config, {}).get(split), new_rows.get(config, {}).get(split)
            if a != b:
                lines.append(f"rows `{config}/{split}`: {a if a is not None else 'none'} -> "
                             f"{b if b is not None else 'removed'}")
    for what in ("sources", "models"):
        old, new = previous.get(what, {}) or {}, manifest.get(what, {}) or {}
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                lines.append(f"{what[:-1]} `{key}`: {old.get(key, 'none')} -> {new.get(key, 'removed')}")
    old, new = flatten(previous.get("preset", {})), flatten(manifest.get("preset", {}))
    for key in sorted(set(old) | set(new)):
        if key != "version" and old.get(key) != new.get(key):
            lines.append(f"setting `{key}`: {old.get(key, 'none')} -> {new.get(key, 'removed')}")
    if len(lines) == 1:
        lines.append("same rows, sources, models and settings")
    return lines


def previous_manifest(ref: str | Path | None) -> dict | None:
    """The manifest of an earlier release: a local folder / manifest.json, or ``org/name@vX.Y.Z`` on the Hub."""
    if ref is None:
        return None
    path = Path(ref)
    if path.is_dir():
        path = path / "manifest.json"
    if not path.is_file():
        from huggingface_hub import hf_hub_download

        repo_id, _, revision = str(ref).partition("@")
        path = Path(hf_hub_download(repo_id, "manifest.json", repo_type="dataset", revision=revision or None))
    return json.loads(path.read_text(encoding="utf-8"))


def load_snippet(repo_id: str, configs: list[str], version: str) -> str:
    lines = ["from datasets import load_dataset", ""]
    lines += [f'{c} = load_dataset("{repo_id}", "{c}", revision="v{version}")' for c in configs]
    return "\n".join(lines) + "\n"


def sft_snippet(repo_id: str, config: str, version: str, output_dir: str) -> str:
    return (f"from datasets import load_dataset\nfrom trl import SFTConfig, SFTTrainer\n\n"
            f'train = load_dataset("{repo_id}", "{config}", split="train", revision="v{version}")\n'
            f'trainer = SFTTrainer(model="{DEFAULT_SFT_MODEL}", train_dataset=train,\n'
            f'                     args=SFTConfig(output_dir="{output_dir}", completion_only_loss=True))\n'
            f"trainer.train()\n")


def read_tables(folder: Path, rows: dict[str, dict[str, int]]) -> dict[str, dict[str, pa.Table]]:
    """The release's data, config -> split -> table, in the manifest's order."""
    tables = {}
    for config, splits in rows.items():
        tables[config] = {}
        for split in splits:
            files = sorted((folder / "data" / config).glob(f"{split}-*.parquet"))
            tables[config][split] = (pa.concat_tables([pq.read_table(f) for f in files]) if files
                                     else pa.table({}))
    return tables


def _source_counts(manifest: dict) -> dict[str, dict]:
    """Per-source counts the build recorded: licence, rows in, trajectories, samples, rejects by reason."""
    return (manifest.get("stats") or {}).get("sources") or {}


def source_licenses(manifest: dict) -> dict[str, str]:
    return {name: c["license"] for name, c in _source_counts(manifest).items() if c.get("license")}


def manifest_facts(manifest: dict) -> dict:
    """Stages, rejects by reason, dedup / decontamination counts and LLM usage, from ``manifest['stats']``.

    ``stats`` has the pipeline runtime's shape: ``{"steps": {step: {"in", "out", "rejected": {reason: n},
    "llm": {role: usage}}}, "llm": {role: {"requests", "prompt_tokens", "completion_tokens", "failures"}}}``.
    """
    stats = manifest.get("stats") or {}
    steps = stats.get("steps") or {}
    stages = [(name, s.get("in", 0), s.get("out", 0), sum((s.get("rejected") or {}).values()))
              for name, s in steps.items()]
    reasons = [(name, reason, n) for name, s in steps.items() for reason, n in (s.get("rejected") or {}).items()]
    dedup = [f"{step} {reason}: {n}" for step, reason, n in reasons if reason.endswith("duplicate")]
    decontam = [f"{step} against {reason.removeprefix('overlaps ')}: {n}" for step, reason, n in reasons
                if reason.startswith("overlaps ")]
    # a cleaning step that ran and removed nothing is still reported: "not run" would be a false claim
    dedup += [f"{name}: 0 removed" for name, s in steps.items() if name.startswith("dedup") and not s.get("rejected")]
    decontam += [f"{name}: 0 removed" for name, s in steps.items()
                 if name.startswith("decontaminate") and not s.get("rejected")]
    models = manifest.get("models") or {}
    usage = [(role, models.get(role, "-"), u.get("requests", 0), u.get("prompt_tokens", 0),
              u.get("completion_tokens", 0), u.get("failures", 0)) for role, u in (stats.get("llm") or {}).items()]
    return {"stages": stages, "reasons": reasons, "dedup": dedup, "decontam": decontam, "usage": usage}


def _card_text(folder: Path, manifest: dict, tables: dict, plots: list[tuple[str, str]], *, meta: dict,
               description: str, repo_id: str, previous: dict | None) -> str:
    dataset, version = manifest["dataset"], manifest["version"]
    from builders.contract import contract

    release_stats = stats_mod.release_stats(tables)
    licence = meta["license"]
    declared = source_licenses(manifest)
    configs = list(tables)
    trainable = next((c for c in configs if {"prompt", "completion"} <= set(contract(dataset, c).column_names)), None)
    facts = {
        **manifest_facts(manifest), "release": release_stats, "plots": plots,
        "sources": [(s, counts, declared.get(s) or source_license(s, licence))
                    for s, counts in release_stats["sources"].items()],
        "source_counts": [(name, c.get("license"), c.get("rows_in"), c.get("trajectories"), c.get("samples"),
                           c.get("rejects") or {}) for name, c in _source_counts(manifest).items()],
        "judges": judges_and_thresholds(manifest.get("preset") or {}),
        "sft_snippet": sft_snippet(repo_id, trainable, version, f"{dataset}-sft") if trainable else None,
        "citations": CITATIONS, "changelog": changelog(manifest, previous),
    }
    return render_card(
        f"{dataset}.md.j2", meta, description=description, version=version, repo_id=repo_id,
        package_version=f"{manifest['package_version']} (code {manifest.get('code_sha256', '')[:12]})",
        preset_name=manifest["preset_name"], seed=manifest["seed"], sources=manifest.get("sources") or {},
        models=manifest.get("models") or {}, rejects=manifest.get("rejects") or {},
        rejects_total=sum((manifest.get("rejects") or {}).values()),
        stats={c: release_stats["configs"][c] for c in configs}, contracts={c: contract(dataset, c) for c in configs},
        preset_yaml=yaml.safe_dump(manifest.get("preset") or {}, sort_keys=False, allow_unicode=True),
        load_snippet=load_snippet(repo_id, configs, version), facts=facts)


def write_card(folder: Path, manifest: dict, *, meta: dict, description: str, repo_id: str,
               previous: dict | None = None) -> list[str]:
    """Render ``README.md`` and ``plots/*.png`` into a release folder whose data is written.

    ``meta`` is :func:`front_matter`'s result; ``manifest`` needs dataset, version, package_version,
    code_sha256, preset_name, seed, sources, models, rows, rejects, preset and optionally ``stats``
    (see :func:`manifest_facts`). Refuses (CardError) a licence the sources do not allow. Returns the
    written paths relative to ``folder``.
    """
    folder = Path(folder)
    tables = read_tables(folder, manifest["rows"])
    check_license(meta["license"], stats_mod.source_rows(tables), source_licenses(manifest))
    from cards.plots import render_plots

    plots = render_plots(tables, folder)
    text = _card_text(folder, manifest, tables, plots, meta=meta, description=description, repo_id=repo_id,
                      previous=previous)
    (folder / "README.md").write_text(text, encoding="utf-8")
    return ["README.md"] + [rel for _, rel in plots]


def _between(text: str, marks: tuple[str, str]) -> tuple[str, str, str]:
    head, _, rest = text.partition(marks[0])
    inner, _, tail = rest.partition(marks[1])
    return head, inner, tail


def check_card(folder: Path) -> dict:
    """Run the card's ``load_dataset`` snippet on the folder and check every number in the card against
    the data and manifest (re-derived from scratch), the YAML and the plots; raises CardError."""
    from huggingface_hub import DatasetCard

    folder = Path(folder)
    readme = folder / "README.md"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    text = readme.read_text(encoding="utf-8")
    card = DatasetCard.load(readme)
    meta = card.data.to_dict()
    where = f"card {readme}"
    declared = {c["config_name"]: [d["split"] for d in c["data_files"]] for c in meta.get("configs", [])}
    expected = {c: list(s) for c, s in manifest["rows"].items()}
    if declared != expected:
        raise CardError(where, f"YAML configs {declared} differ from the release's {expected}",
                        "render the card from the release (cards.card.write_card)")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    load = next((b for b in blocks if "load_dataset" in b and "SFTTrainer" not in b), None)
    repo = _REPO.search(load or "")
    if repo is None:
        raise CardError(where, "has no load_dataset snippet", "render the card with cards.card.write_card")
    tables = read_tables(folder, manifest["rows"])
    _, description, _ = _between(text, DESCRIPTION)
    with tempfile.TemporaryDirectory() as tmp:
        from cards.plots import render_plots

        plots = render_plots(tables, Path(tmp))
        for _, rel in plots:
            if f"({rel})" not in text:
                raise CardError(where, f"does not show plot {rel}", "render the card with cards.card.write_card")
            if not (folder / rel).is_file() or (folder / rel).read_bytes() != (Path(tmp) / rel).read_bytes():
                raise CardError(f"{where} {rel}", "is missing or differs from the data's plot", "rebuild the card")
        default = next((c["config_name"] for c in meta["configs"] if c.get("default")), None)
        meta = front_matter(configs=declared, default_config=default, license=meta.get("license"),
                            languages=meta.get("language"), task_categories=meta.get("task_categories"),
                            tags=meta.get("tags"), pretty_name=meta.get("pretty_name"),
                            total_rows=sum(t.num_rows for splits in tables.values() for t in splits.values()))
        fresh = _card_text(folder, manifest, tables, plots, meta=meta, description=description.strip(),
                           repo_id=repo.group(1), previous=None)
    mine = _without_changelog(text).splitlines()
    theirs = _without_changelog(fresh).splitlines()
    for i, (a, b) in enumerate(zip(mine, theirs)):
        if _NUMBER.findall(a) != _NUMBER.findall(b):
            raise CardError(f"{where} line {i + 1}", f"says {a.strip()!r}; the data gives {b.strip()!r}",
                            "rebuild the card from the release (cards.card.write_card)")
    if len(mine) != len(theirs):
        raise CardError(where, f"has {len(mine)} lines; rendered from the data it has {len(theirs)}",
                        "rebuild the card from the release (cards.card.write_card)")
    namespace: dict = {}
    # a fresh datasets cache: a reused folder path must not be served from an earlier build's cache
    with tempfile.TemporaryDirectory(prefix="card-check-") as cache:
        code = load.replace(f'"{repo.group(1)}"', repr(str(folder))).replace("revision=", f"cache_dir={cache!r}, revision=")
        try:
            exec(compile(code, f"{readme}:load_dataset", "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - any failure of the user-facing snippet refuses the release
            raise CardError(where, f"its load_dataset snippet fails on the folder ({type(exc).__name__}: {exc})",
                            "fix the snippet template or the data layout") from None
    for config, splits in manifest["rows"].items():
        loaded = namespace.get(config)
        for split, n in splits.items():
            got = loaded[split].num_rows if loaded is not None and split in loaded else None
            if got != n or tables[config][split].num_rows != n:
                raise CardError(f"{where} {config}/{split}", f"manifest says {n} rows, load_dataset gives {got}, "
                                f"the Parquet files {tables[config][split].num_rows}", "rebuild the release")
    return {"configs": expected, "plots": [rel for _, rel in plots], "lines": len(mine)}


def _without_changelog(text: str) -> str:
    head, _, tail = _between(text, CHANGELOG)
    return head + CHANGELOG[0] + tail if CHANGELOG[0] in text else text
