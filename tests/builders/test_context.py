"""What a dataset builder gets from the release: one LLM client per release, closed when it ends."""

from pathlib import Path

from builders.context import BuildContext
from builders.llm import ChatRequest
from builders.llm.testing import FakeOpenAIServer, Reply
from builders.preset import parse_preset
from builders.release import main
from tests.builders.test_release import error_line, write_preset


def preset_with_llm(tmp_path: Path, llm: dict):
    raw = {"name": "t", "version": "0.1.0", "seed": 1, "llm": llm,
           "datasets": {"toolmind": {"configs": {"functions": {}}}}}
    return parse_preset(raw, tmp_path / "preset.yaml")


def test_steps_share_one_client_whose_rejects_follow_the_dataset(tmp_path):
    with FakeOpenAIServer() as server:
        llm = {"cache": str(tmp_path / "llm.sqlite"),
               "endpoints": {"fake": {"base_url": server.base_url, "max_attempts": 1, "backoff_base": 0.01}},
               "roles": {"default": {"endpoint": "fake", "model": "m", "temperature": 0.0}}}
        ctx = BuildContext(preset=preset_with_llm(tmp_path, llm))
        assert ctx.llm() is ctx.llm()
        ctx.start_dataset()
        server.script(Reply(status=400, body='{"error": {"message": "bad request"}}'))
        results = ctx.llm().chat_many_sync("user_simulator", [
            ChatRequest(messages=[{"role": "user", "content": "fails"}]),
        ])
        assert not results[0].ok
        assert len(ctx.rejects) == 1 and "bad request" in ctx.rejects.items[0]["reason"]
        ctx.start_dataset()  # the next dataset starts with its own rejects
        [ok] = ctx.llm().chat_many_sync("user_simulator", [ChatRequest(messages=[{"role": "user", "content": "hi"}])])
        assert ok.ok and len(ctx.rejects) == 0
        ctx.close()
        assert ctx._llm is None


def test_a_bad_llm_mapping_fails_the_release_before_any_work(tmp_path, openapi_tarball, capsys):
    preset = write_preset(tmp_path, openapi_tarball, llm={"roles": {"trajectory_judge": {"endpoint": "nowhere"}}})
    assert main(["--preset", str(preset)]) == 2
    err = error_line(capsys.readouterr().err)
    assert "llm.roles.trajectory_judge.endpoint" in err and "'nowhere'" in err
    assert not (tmp_path / "out").exists()
