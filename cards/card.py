"""Dataset cards: YAML front matter the Hub reads (configs, license, sizes) and a body from a template."""

from __future__ import annotations

from importlib import resources

import jinja2
import yaml

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
    body = _environment().get_template(template).render(meta=meta, **context)
    head = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{head}---\n\n{body}"
