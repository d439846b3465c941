"""Open-source augmentation: the seven sources' real rows through normalise → rules → judges → turn split.

Rows: tau-bench, When2Call, APIGen-MT and BUTTON from ``tests/builders/normalize/data`` (its README
says where each came from); xLAM, Glaive and ToolACE are the published rows of their normaliser
tests, written here as the files their sources publish. The judges are scripted on the loopback
server, so the real client path runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import datasets
import pytest

from builders.contract import SAMPLES, TRAJECTORIES
from builders.licenses import LicenseError
from builders.llm.testing import FakeOpenAIServer, Reply, loopback_config
from builders.normalize import NORMALIZERS
from builders.parquet import write_split
from builders.schema import content_hash
from toolmind.augment import build_augmented
from toolmind.rules import check_turns
from toolmind.turns import published_row, split_samples, trajectory_row
from tests.builders.normalize.test_glaive import NO_FUNCTIONS, ROW_BMI, TWO_FUNCTIONS
from tests.builders.normalize.test_toolace import ROW as TOOLACE_ROW
from tests.builders.normalize.test_xlam import ROW_0 as XLAM_0, ROW_3 as XLAM_3

DATA = Path(__file__).resolve().parents[1] / "builders" / "normalize" / "data"
BROKEN_XLAM = {**XLAM_0, "id": 9, "answers": '[{"name": "live_giveaways_by_type", "arguments": '}  # cut off
LICENSES = {"xlam": "cc-by-4.0", "glaive": "apache-2.0", "toolace": "apache-2.0", "apigen_mt": "cc-by-nc-4.0",
            "when2call": "cc-by-4.0", "taubench": "mit", "button": "cc-by-4.0"}


@dataclass
class Ctx:
    llm_config: object
    root: Path
    seed: int = 3


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def sources(tmp: Path) -> dict:
    files = {
        "xlam": _jsonl(tmp / "xlam.jsonl", [XLAM_0, XLAM_3, BROKEN_XLAM]),
        "glaive": _jsonl(tmp / "glaive.jsonl", [ROW_BMI, TWO_FUNCTIONS, NO_FUNCTIONS, NO_FUNCTIONS]),  # a repeat
        "toolace": _jsonl(tmp / "toolace.jsonl", [TOOLACE_ROW]),
        "apigen_mt": str(DATA / "apigen_mt.json"), "when2call": str(DATA / "when2call_sft.jsonl"),
        "taubench": str(DATA / "taubench_gpt-4o-airline.json"), "button": str(DATA / "button.jsonl"),
    }
    out = {fmt: {"format": fmt, "path": path, "license": LICENSES[fmt]} for fmt, path in files.items()}
    out["taubench"]["tools"] = str(DATA / "taubench_airline_tools.json")
    return out


def judges(request: dict) -> Reply:
    """Trajectory judge: 0 for the BMI dialogue, else 1. Turn judge: 1."""
    text = request["messages"][0]["content"]
    if "multi-turn dialogue data" in text:
        return Reply(content="0" if "calculate_bmi" in text else "1")
    if "quality of the last response" in text:
        return Reply(content="1")
    raise AssertionError(f"no scripted judge for {text[:80]!r}")


def build(tmp: Path, server, mode: str, **extra) -> dict:
    options = {"work_dir": str(tmp / f"work-{mode}"), "sources": sources(tmp),
               "filters": {"trajectory": mode, "turn": mode}, **extra}
    return build_augmented(Ctx(loopback_config(server.base_url), tmp), options)


def expected(tmp: Path) -> dict[str, tuple[int, int]]:
    """(trajectories, samples) per source, from the normalisers and rules alone: what record mode keeps."""
    from builders.sources.datasets import DatasetSource

    out = {}
    for name, entry in sources(tmp).items():
        seen, n_samples = set(), 0
        options = {"tools": entry["tools"]} if "tools" in entry else {}
        for i, row in enumerate(DatasetSource.from_entry(name, entry).rows()):
            try:
                conv = NORMALIZERS[entry["format"]](row, i, **options)
            except Exception:
                continue
            key = json.dumps([[m.to_dict() for m in conv.messages], conv.tools_json()])
            if key not in seen:
                seen.add(key)
                n_samples += sum(not v.error for v in check_turns(conv.messages, conv.tools))
        out[name] = (len(seen), n_samples)
    return out


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("augment")
    with FakeOpenAIServer(responder=judges) as server:
        return tmp, build(tmp, server, "record")


def test_record_mode_counts_licences_and_rejects(record):
    tmp, out = record
    counts = out["sources"]
    assert set(counts) == set(LICENSES)
    want = expected(tmp)
    for name, c in counts.items():
        assert c["license"] == LICENSES[name] and c["format"] == name
        repeats = sum(n for r, n in c["rejects"].items() if r.startswith("duplicate sample: same content as one from"))
        assert (c["trajectories"], c["samples"] + repeats) == want[name], name
        assert c["trajectories"] == sum(t["source"] == name for t in out["trajectories"])
        assert c["samples"] == sum(s["source"] == name for s in out["samples"])
    assert {n: c["rows_in"] for n, c in counts.items()} == {
        "xlam": 3, "glaive": 4, "toolace": 1, "apigen_mt": 2, "when2call": 5, "taubench": 3, "button": 2}
    assert all(c["trajectories"] > 0 and c["samples"] > 0 for c in counts.values())
    # the planted row and the repeated Glaive row are rejects with their reasons, nothing else is
    (reason, n), = counts["xlam"]["rejects"].items()
    assert n == 1 and reason.startswith("not convertible: ") and "answers" in reason
    (reason, n), = counts["glaive"]["rejects"].items()
    assert n == 1 and reason.startswith("duplicate conversation: same content as ")
    # the APIGen-MT rows are tau-bench tasks 0 and 14 rewritten (see the data README): their shared turns
    # are published once, under the source that comes first by name
    assert counts["taubench"]["rejects"] == {"duplicate sample: same content as one from source 'apigen_mt'": 16}
    assert all(not c["rejects"] for name, c in counts.items() if name not in ("xlam", "glaive", "taubench"))
    for t in out["trajectories"]:
        assert t["provenance"]["license"] == LICENSES[t["source"]]
        assert t["provenance"]["models"]["trajectory_judge"] == "fake-model"
    bmi = [t for t in out["trajectories"] if "calculate_bmi" in t["tools"] and t["source"] == "glaive"]
    assert [t["trajectory_verdict"]["passed"] for t in bmi] == [False]  # recorded, kept
    assert bmi[0]["trajectory_verdict"]["reason"] == "trajectory judge scored 0"


def test_converted_rows_keep_the_published_content(record):
    _, out = record
    by_source = {}
    for t in out["trajectories"]:
        by_source.setdefault(t["source"], []).append(t)
    (toolace,) = by_source["toolace"]
    assert toolace["function_chain"] == ["newAddress", "Market_Trends_API"]
    calls = [c for m in toolace["messages"] for c in m.get("tool_calls") or []]
    assert json.loads(calls[0]["function"]["arguments"]) == {"password": "secure123"}
    tau = [t for t in by_source["taubench"]]
    for t in tau:  # every tool result answers a call of the assistant turn right before it
        for i, m in enumerate(t["messages"]):
            if m["role"] == "tool":
                j = max(k for k in range(i) if t["messages"][k]["role"] == "assistant")
                assert m["tool_call_id"] in {c["id"] for c in t["messages"][j]["tool_calls"]}
    # samples are the turn split of the rows as published
    for t in out["trajectories"]:
        mine = sorted((s for s in out["samples"] if s["trajectory_id"] == t["id"]), key=lambda s: s["turn_index"])
        split = split_samples(t)
        assert mine == split if t["source"] != "taubench" else all(s in split for s in mine)  # see the rejects


def test_rows_fit_the_contract_and_load_with_datasets(record, tmp_path):
    _, out = record
    folder = tmp_path / "release"
    for contract, rows in ((TRAJECTORIES, out["trajectories"]), (SAMPLES, out["samples"])):
        table = contract.table([published_row(contract.config, r, "apache-2.0") for r in rows])
        contract.validate(table, contract.where)
        write_split(table, folder / "data" / contract.config, "train", 1 << 20, contract.schema)
    (folder / "README.md").write_text("---\nconfigs:\n" + "".join(
        f"- config_name: {c}\n  data_files:\n  - split: train\n    path: data/{c}/train-*.parquet\n"
        for c in ("samples", "trajectories")) + "---\n")
    samples = datasets.load_dataset(str(folder), "samples", split="train", cache_dir=str(tmp_path / "hf"))
    assert samples.num_rows == len(out["samples"])
    assert set(samples["source"]) == set(LICENSES)
    assert {(s["source"], s["license"]) for s in samples} == set(LICENSES.items())  # each row keeps its licence
    trajectories = datasets.load_dataset(str(folder), "trajectories", split="train", cache_dir=str(tmp_path / "hf"))
    assert sorted(trajectories["id"]) == sorted(t["id"] for t in out["trajectories"])
    assert {(t["source"], t["license"]) for t in trajectories} == set(LICENSES.items())


def test_enforce_mode_drops_what_the_judges_fail(tmp_path, record):
    _, recorded = record
    with FakeOpenAIServer(responder=judges) as server:
        out = build(tmp_path, server, "enforce")
    glaive = out["sources"]["glaive"]
    assert glaive["trajectories"] == recorded["sources"]["glaive"]["trajectories"] - 1
    assert glaive["rejects"]["trajectory filter: trajectory judge scored 0"] == 1
    assert not any("calculate_bmi" in t["tools"] for t in out["trajectories"] if t["source"] == "glaive")
    for name in set(LICENSES) - {"glaive"}:
        assert out["sources"][name]["samples"] == recorded["sources"][name]["samples"]


def test_a_release_licence_that_a_source_forbids_is_refused(tmp_path):
    with pytest.raises(LicenseError) as info:
        build_augmented(Ctx(None, tmp_path), {"sources": sources(tmp_path), "license": "apache-2.0"})
    assert "apigen_mt" in info.value.item and "cc-by-nc-4.0" in info.value.item
    assert not (tmp_path / ".cache").exists()  # refused before any work


def test_trajectory_row_ids_are_pinned():
    """The turn split's ids are content hashes; this pins one so a speed-up cannot change them."""
    row = trajectory_row({
        "id": "t", "messages": [{"role": "user", "content": "hi"},
                                {"role": "assistant", "content": "hello", "reasoning_content": "r"}],
        "tools": "[]", "intent": None, "function_chain": [], "models": {},
        "turn_verdicts": [{"keep": True, "error": False, "rule": None, "judge": 1, "reason": None}],
        "trajectory_verdict": None})
    (sample,) = split_samples(row)
    assert sample["id"] == "fa6218049315cfb1" == content_hash({"prompt": row["messages"][:1], "completion": row["messages"][1:],
                                                           "tools": "[]"})


# the offline tiny model and tokenizer of the training tests (imported fixtures are module fixtures here)
from tests.training.conftest import smollm2_tokenizer_dir, tiny_model_dir  # noqa: E402,F401


@pytest.mark.slow
def test_sft_trainer_takes_the_augmented_samples_as_published(record, tiny_model_dir, tmp_path):  # noqa: F811
    import math

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    _, out = record
    table = SAMPLES.table([published_row("samples", s) for s in out["samples"]])
    write_split(table, tmp_path / "data", "train", 1 << 20, SAMPLES.schema)
    data = datasets.load_dataset("parquet", data_files=str(tmp_path / "data" / "*.parquet"), split="train")
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    torch.manual_seed(0)
    args = SFTConfig(output_dir=str(tmp_path / "out"), max_steps=1, bf16=False, max_length=None,
                     per_device_train_batch_size=2, report_to="none", save_strategy="no", logging_steps=1)
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_model_dir), processing_class=tok,
                         train_dataset=data, args=args)
    assert len(trainer.train_dataset) == len(out["samples"])  # max_length=None: TRL drops a fully truncated anchor
    for row in trainer.train_dataset:
        assert any(label != -100 for label in row["labels"])  # the anchor is trained
    assert math.isfinite(trainer.train().training_loss)
