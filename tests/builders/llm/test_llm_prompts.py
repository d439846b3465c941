import pytest

from builders.llm import PromptTemplate, load_prompt
from builders.errors import ConfigError, DependencyError


def test_version_follows_the_text_unless_declared(tmp_path):
    a = PromptTemplate.from_text("judge", "Rate {{ turn }}.")
    b = PromptTemplate.from_text("judge", "Rate {{ turn }} from 0 to 9.")
    assert a.version != b.version and a.version.startswith("judge@")
    pinned = PromptTemplate.from_text("judge", "{# version: 2 #}\nRate {{ turn }}.")
    assert pinned.version == "judge@2" and pinned.render(turn="t1") == "Rate t1."
    (tmp_path / "step.py").write_text("")
    (tmp_path / "intent.jinja").write_text("Intent for {{ chain | join(' -> ') }}")
    loaded = load_prompt(tmp_path / "step.py", "intent.jinja")
    assert loaded.name == "intent" and loaded.render(chain=["a", "b"]) == "Intent for a -> b"


def test_missing_values_and_files_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="template value missing"):
        PromptTemplate.from_text("judge", "Rate {{ turn }}.").render()
    with pytest.raises(DependencyError, match="does not exist"):
        load_prompt(tmp_path / "step.py", "nope.jinja")
