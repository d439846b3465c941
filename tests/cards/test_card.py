import pyarrow as pa
import pytest
import yaml

from builders.contract import SAMPLES
from cards.card import front_matter, render_card
from cards.stats import config_stats, size_category


@pytest.mark.parametrize("rows, label", [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (15_790, "10K<n<100K"),
                                         (250_000, "100K<n<1M"), (2_000_000, "1M<n<10M")])
def test_size_category_matches_hub_buckets(rows, label):
    assert size_category(rows) == label


def test_card_front_matter_is_what_the_hub_reads():
    meta = front_matter(configs={"samples": ["train"], "functions": ["train"]}, default_config="samples",
                        license="apache-2.0", languages=["en", "zh"], task_categories=["text-generation"],
                        tags=["tool-use"], pretty_name="ToolMind", total_rows=1500)
    stats = {"samples": config_stats({"train": pa.table({"id": ["a", "b"], "source": ["x", "x"]})})}
    card = render_card("toolmind.md.j2", meta, description="desc", version="1.2.3", repo_id="org/toolmind",
                       package_version="0.1.0", preset_name="default", seed=3, sources={"openapi": "npm@1"},
                       models={}, rejects={"normalize": 2}, rejects_total=2, stats=stats, preset_yaml="name: x\n",
                       contracts={"samples": SAMPLES})
    assert card.startswith("---\n")
    parsed = yaml.safe_load(card.split("---\n")[1])
    assert parsed["configs"][0] == {"config_name": "samples", "default": True,
                                    "data_files": [{"split": "train", "path": "data/samples/train-*.parquet"}]}
    assert "default" not in parsed["configs"][1]
    assert parsed["size_categories"] == ["1K<n<10K"] and parsed["language"] == ["en", "zh"]
    assert 'revision="v1.2.3"' in card and "normalize: 2" in card and "source**: x (2)" in card
