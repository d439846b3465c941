"""push_release against a local Hub-compatible server, read back with the real clients."""

from __future__ import annotations

import hashlib
import json
import logging
import socket

import httpx2
import pytest
from huggingface_hub import HfApi
from huggingface_hub import constants as hf_constants
from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

from builders import hub as hub_module
from builders.hub import PushError, push_release, read_release
from tests.local_hub import LocalHub

REPO = "org/toolmind"
TOKEN = "hf_TestToken0123456789abcdefSECRET"
V1 = {
    "samples": [{"id": f"s{i}", "turn_index": i, "prompt": json.dumps([{"role": "user", "content": f"q{i}"}])}
                for i in range(7)],
    "functions": [{"name": "get_weather", "description": "Weather for a city"},
                  {"name": "get_time", "description": "Local time"}],
}
V2 = {
    "samples": [{"id": f"t{i}", "turn_index": i, "prompt": json.dumps([{"role": "user", "content": f"r{i}"}])}
                for i in range(4)],
    "functions": [{"name": "search_flights", "description": "Flights between two airports"}],
}


def sort_rows(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))


def commit_requests(hub) -> int:
    return sum(1 for method, path, _ in hub.requests if method == "POST" and "/commit/" in path)


def snapshot(hub) -> tuple[dict, dict]:
    return hub.refs(REPO), hub.files(REPO)


def release_files(folder) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def no_tag_retry_wait(monkeypatch):
    monkeypatch.setattr(hub_module, "TAG_RETRY_DELAYS", (0.0, 0.0))


def test_push_then_load_by_name_revision_and_streaming(local_hub, make_release, caplog):
    caplog.set_level(logging.DEBUG)
    folder = make_release("0.1.0", V1, shards=2)
    before = release_files(folder)
    xet_flag = hf_constants.HF_HUB_DISABLE_XET

    result = push_release(folder, REPO, token=TOKEN, endpoint=local_hub.endpoint)

    assert (result.repo_id, result.version, result.tag, result.status) == (REPO, "0.1.0", "v0.1.0", "pushed")
    refs = local_hub.refs(REPO)
    assert refs["tags"] == {"v0.1.0": result.commit} and refs["branches"]["main"] == result.commit
    assert local_hub.files(REPO) == {**before, ".gitattributes": local_hub.files(REPO)[".gitattributes"]}
    assert commit_requests(local_hub) == 1, "the whole folder goes up as one commit"
    assert hf_constants.HF_HUB_DISABLE_XET == xet_flag, "the Xet switch is restored after the push"

    rows = local_hub.load_rows({
        "samples": {"path": REPO, "name": "samples", "split": "train"},
        "functions": {"path": REPO, "name": "functions", "split": "train"},
        "default": {"path": REPO, "split": "train"},
        "tagged": {"path": REPO, "name": "samples", "split": "train", "revision": "v0.1.0"},
        "streamed": {"path": REPO, "name": "functions", "split": "train", "streaming": True},
    })
    assert sort_rows(rows["samples"]) == sort_rows(V1["samples"])
    assert sort_rows(rows["functions"]) == sort_rows(V1["functions"])
    assert sort_rows(rows["default"]) == sort_rows(V1["samples"]), "samples is the default config"
    assert sort_rows(rows["tagged"]) == sort_rows(V1["samples"])
    assert sort_rows(rows["streamed"]) == sort_rows(V1["functions"])
    assert local_hub.unhandled == []

    # the token went to the server but was written nowhere: not in logs, server files or the folder
    assert local_hub.authorized_requests > 0
    assert TOKEN not in caplog.text
    assert release_files(folder) == before
    for path in local_hub.stored_paths():
        assert TOKEN.encode() not in path.read_bytes(), path


def test_new_version_replaces_main_in_one_commit_and_old_tag_still_loads(local_hub, make_release):
    old = make_release("0.1.0", V1, shards=3)
    first = push_release(old, REPO, token=TOKEN, endpoint=local_hub.endpoint)
    commits_before = local_hub.commit_ids(REPO)
    folder = make_release("0.2.0", V2, shards=1)

    second = push_release(folder, REPO, token=TOKEN, endpoint=local_hub.endpoint)

    assert second.status == "pushed" and second.commit != first.commit
    assert local_hub.commit_ids(REPO) == [second.commit, *commits_before], "exactly one new commit"
    assert local_hub.refs(REPO)["tags"] == {"v0.1.0": first.commit, "v0.2.0": second.commit}
    main = local_hub.files(REPO)
    assert sorted(main) == sorted([".gitattributes", *release_files(folder)]), "old shards were deleted"
    assert local_hub.files(REPO, "v0.1.0") == {**release_files(old), ".gitattributes": main[".gitattributes"]}

    rows = local_hub.load_rows({
        "main": {"path": REPO, "name": "samples", "split": "train"},
        "old": {"path": REPO, "name": "samples", "split": "train", "revision": "v0.1.0"},
        "old_functions": {"path": REPO, "name": "functions", "split": "train", "revision": "v0.1.0",
                          "streaming": True},
    })
    assert sort_rows(rows["main"]) == sort_rows(V2["samples"])
    assert sort_rows(rows["old"]) == sort_rows(V1["samples"])
    assert sort_rows(rows["old_functions"]) == sort_rows(V1["functions"])
    assert local_hub.unhandled == []


def test_identical_repush_is_a_no_op(local_hub, make_release):
    first = push_release(make_release("0.1.0", V1), REPO, token=TOKEN, endpoint=local_hub.endpoint)
    state = snapshot(local_hub)
    commits = local_hub.commit_ids(REPO)

    again = push_release(make_release("0.1.0", V1), REPO, token=TOKEN, endpoint=local_hub.endpoint)

    assert again.status == "unchanged" and again.commit == first.commit and again.tag == "v0.1.0"
    assert snapshot(local_hub) == state and local_hub.commit_ids(REPO) == commits
    assert commit_requests(local_hub) == 1


def test_older_version_repush_leaves_main_on_the_newer_one(local_hub, make_release):
    push_release(make_release("0.1.0", V1), REPO, token=TOKEN, endpoint=local_hub.endpoint)
    newer = push_release(make_release("0.2.0", V2), REPO, token=TOKEN, endpoint=local_hub.endpoint)

    again = push_release(make_release("0.1.0", V1), REPO, token=TOKEN, endpoint=local_hub.endpoint)

    assert again.status == "unchanged"
    assert local_hub.refs(REPO)["branches"]["main"] == newer.commit


def test_other_content_under_a_published_version_is_refused(local_hub, make_release):
    push_release(make_release("0.1.0", V1), REPO, token=TOKEN, endpoint=local_hub.endpoint)
    state = snapshot(local_hub)

    with pytest.raises(PushError) as err:
        push_release(make_release("0.1.0", V2), REPO, token=TOKEN, endpoint=local_hub.endpoint)

    message = str(err.value)
    assert REPO in message and "v0.1.0" in message and "bump `version` in the preset" in message
    assert "\n" not in message and TOKEN not in message
    assert snapshot(local_hub) == state and commit_requests(local_hub) == 1


def test_invalid_card_metadata_is_refused_by_the_hub_before_any_upload(local_hub, make_release):
    folder = make_release("0.1.0", V1)
    card = folder / "README.md"
    card.write_text("---\nconfigs: [unclosed\n---\n# card\n")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["README.md"] = {"sha256": hashlib.sha256(card.read_bytes()).hexdigest(),
                                      "bytes": card.stat().st_size}
    (folder / "manifest.json").write_text(json.dumps(manifest))

    with pytest.raises(PushError, match="Invalid metadata in README.md"):
        push_release(folder, REPO, token=TOKEN, endpoint=local_hub.endpoint)

    assert commit_requests(local_hub) == 0 and local_hub.refs(REPO)["tags"] == {}


def test_failed_commit_leaves_the_repo_as_it_was(local_hub, make_release):
    push_release(make_release("0.1.0", V1), REPO, token=TOKEN, endpoint=local_hub.endpoint)
    state = snapshot(local_hub)
    local_hub.inject_fault("commit", status=500)

    with pytest.raises(PushError) as err:
        push_release(make_release("0.2.0", V2), REPO, token=TOKEN, endpoint=local_hub.endpoint)

    assert "uploading the release failed" in str(err.value) and local_hub.endpoint in str(err.value)
    assert "run the push again" in str(err.value) and TOKEN not in str(err.value)
    assert snapshot(local_hub) == state
    assert push_release(make_release("0.2.0", V2), REPO, token=TOKEN, endpoint=local_hub.endpoint).status == "pushed"


def test_a_server_echoing_the_token_does_not_leak_it(local_hub, make_release, caplog, no_tag_retry_wait):
    caplog.set_level(logging.DEBUG)
    local_hub.inject_fault("tag", status=500, times=2, message=f"rejected Bearer {TOKEN}")
    local_hub.inject_fault("commit", status=400, message=f"token {TOKEN} may not write here")

    with pytest.raises(PushError) as err:
        push_release(make_release("0.1.0", V1), REPO, token=TOKEN, endpoint=local_hub.endpoint)
    assert "may not write here" in str(err.value) and TOKEN not in str(err.value)

    pushed = push_release(make_release("0.1.0", V1), REPO, token=TOKEN, endpoint=local_hub.endpoint)
    assert pushed.status == "pushed", "the tag succeeds on its third attempt"
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("builders"))
    assert "rejected Bearer" in ours and TOKEN not in ours


def test_a_concurrent_commit_on_main_is_not_overwritten(local_hub, make_release, monkeypatch):
    push_release(make_release("0.1.0", V1), REPO, token=TOKEN, endpoint=local_hub.endpoint)
    plan = hub_module._Pusher._operations

    def plan_then_race(self, head):  # someone commits between our read of main and our commit
        operations = plan(self, head)
        HfApi(endpoint=local_hub.endpoint, token=TOKEN).upload_file(
            path_or_fileobj=b"theirs", path_in_repo="notes.txt", repo_id=REPO, repo_type="dataset")
        return operations

    monkeypatch.setattr(hub_module._Pusher, "_operations", plan_then_race)
    with pytest.raises(PushError, match="someone else pushed to main meanwhile"):
        push_release(make_release("0.2.0", V2), REPO, token=TOKEN, endpoint=local_hub.endpoint)

    assert local_hub.files(REPO)["notes.txt"] == b"theirs"
    assert list(local_hub.refs(REPO)["tags"]) == ["v0.1.0"]


def test_failed_file_upload_makes_no_commit(local_hub, make_release):
    local_hub.inject_fault("lfs_upload", status=403, times=-1)

    with pytest.raises(PushError) as err:
        push_release(make_release("0.1.0", V1), REPO, token=TOKEN, endpoint=local_hub.endpoint)

    assert "uploading the release failed" in str(err.value)
    assert commit_requests(local_hub) == 0
    assert local_hub.refs(REPO)["tags"] == {} and sorted(local_hub.files(REPO)) == [".gitattributes"]


def test_failed_tag_resets_main_to_where_it_was(local_hub, make_release, no_tag_retry_wait):
    push_release(make_release("0.1.0", V1), REPO, token=TOKEN, endpoint=local_hub.endpoint)
    state = snapshot(local_hub)
    local_hub.inject_fault("tag", status=503, times=-1)

    with pytest.raises(PushError) as err:
        push_release(make_release("0.2.0", V2), REPO, token=TOKEN, endpoint=local_hub.endpoint)

    assert "tagging v0.2.0 failed" in str(err.value) and "main was reset" in str(err.value)
    assert snapshot(local_hub) == state, "refs and files are exactly as before"
    tag_calls = [r for r in local_hub.requests if "/tag/" in r[1] and r[2] == 503]
    assert len(tag_calls) == 1 + len(hub_module.TAG_RETRY_DELAYS), "transient tag errors are retried"

    local_hub.clear_faults()
    retry = push_release(make_release("0.2.0", V2), REPO, token=TOKEN, endpoint=local_hub.endpoint)
    assert retry.status == "pushed" and local_hub.refs(REPO)["tags"]["v0.2.0"] == retry.commit


def test_failed_tag_where_main_cannot_be_reset_restores_files_by_revert(local_hub, make_release,
                                                                         no_tag_retry_wait):
    push_release(make_release("0.1.0", V1, shards=2), REPO, token=TOKEN, endpoint=local_hub.endpoint)
    refs, files = snapshot(local_hub)
    local_hub.inject_fault("tag", status=500, times=-1)
    local_hub.inject_fault("branch", status=403, times=-1)

    with pytest.raises(PushError) as err:
        push_release(make_release("0.2.0", V2), REPO, token=TOKEN, endpoint=local_hub.endpoint)

    assert "restored" in str(err.value) and "revert commit" in str(err.value)
    assert local_hub.files(REPO) == files
    assert local_hub.refs(REPO)["tags"] == refs["tags"]


def test_lost_commit_response_is_recognised_not_repeated(local_hub, make_release):
    push_release(make_release("0.1.0", V1), REPO, token=TOKEN, endpoint=local_hub.endpoint)
    commits = local_hub.commit_ids(REPO)
    local_hub.inject_fault("commit", status=502, after=True)

    result = push_release(make_release("0.2.0", V2), REPO, token=TOKEN, endpoint=local_hub.endpoint)

    assert result.status == "pushed"
    assert local_hub.commit_ids(REPO) == [result.commit, *commits]
    assert local_hub.refs(REPO)["tags"]["v0.2.0"] == result.commit


def test_lost_tag_response_is_recognised(local_hub, make_release, no_tag_retry_wait):
    local_hub.inject_fault("tag", status=500, after=True)

    result = push_release(make_release("0.1.0", V1), REPO, token=TOKEN, endpoint=local_hub.endpoint)

    assert result.status == "pushed" and local_hub.refs(REPO)["tags"] == {"v0.1.0": result.commit}


def test_endpoint_and_token_come_from_the_environment(local_hub, make_release, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", local_hub.endpoint)
    monkeypatch.setenv("HF_TOKEN", TOKEN)

    result = push_release(make_release("0.1.0", V1), REPO, private=True)

    assert result.status == "pushed" and local_hub.authorized_requests > 0
    with pytest.raises(RepositoryNotFoundError):  # private: hidden from anonymous readers
        HfApi(endpoint=local_hub.endpoint, token=False).list_repo_refs(REPO, repo_type="dataset")


def test_unreachable_endpoint_is_a_clear_error(make_release, monkeypatch):
    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_TELEMETRY", True)
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(PushError) as err:
        push_release(make_release("0.1.0", V1), REPO, token=TOKEN, endpoint=endpoint)

    message = str(err.value)
    assert "creating the repo failed" in message and endpoint in message
    assert "check the network and HF_ENDPOINT" in message and TOKEN not in message


@pytest.mark.parametrize("damage, expected", [
    (lambda f: (f / "manifest.json").unlink(), "no manifest.json"),
    (lambda f: (f / "data" / "samples" / "train-00000-of-00001.parquet").write_bytes(b"PAR1 changed"),
     "changed after the build"),
    (lambda f: (f / "data" / "functions" / "train-00000-of-00001.parquet").unlink(), "missing from the folder"),
    (lambda f: (f / "notes.txt").write_text("x"), "not in manifest.json (notes.txt)"),
    (lambda f: (f / "manifest.json").write_text(json.dumps({"version": "1.0", "files": {"README.md": {}}})),
     "not semver"),
    (lambda f: (f / "manifest.json").write_text("{not json"), "unreadable"),
])
def test_a_folder_that_is_not_its_manifest_is_refused_before_any_request(make_release, damage, expected):
    folder = make_release("0.1.0", V1)
    damage(folder)
    with pytest.raises(PushError, match="build|preset|remove") as err:
        read_release(folder)
    assert expected in str(err.value)


def test_hidden_files_in_the_folder_are_not_published(make_release):
    folder = make_release("0.1.0", V1)
    (folder / ".cache" / "huggingface").mkdir(parents=True)
    (folder / ".cache" / "huggingface" / "x.lock").write_text("")
    assert ".cache/huggingface/x.lock" not in read_release(folder).paths


def test_local_hub_answers_errors_like_the_hub(local_hub, make_release):
    push_release(make_release("0.1.0", V1), REPO, token=TOKEN, endpoint=local_hub.endpoint)
    api = HfApi(endpoint=local_hub.endpoint, token=TOKEN)
    with pytest.raises(RemoteEntryNotFoundError):
        list(api.list_repo_tree(REPO, path_in_repo="nope", repo_type="dataset"))
    with pytest.raises(RevisionNotFoundError):
        list(api.list_repo_tree(REPO, repo_type="dataset", revision="v9.9.9"))
    with pytest.raises(RepositoryNotFoundError):
        api.list_repo_refs("org/missing", repo_type="dataset")
    tree = {e.path: e for e in api.list_repo_tree(REPO, repo_type="dataset", recursive=True, expand=True)}
    shard = tree["data/samples/train-00000-of-00001.parquet"]
    assert shard.lfs is not None and shard.last_commit.title == "Release v0.1.0"

    url = f"{local_hub.endpoint}/datasets/{REPO}/resolve/v0.1.0/README.md"
    whole = httpx2.get(url)
    part = httpx2.get(url, headers={"Range": "bytes=4-13"})
    assert whole.status_code == 200 and whole.headers["X-Repo-Commit"] == local_hub.refs(REPO)["tags"]["v0.1.0"]
    assert part.status_code == 206 and part.content == whole.content[4:14]
    assert part.headers["Content-Range"] == f"bytes 4-13/{len(whole.content)}"
    assert httpx2.get(url, headers={"Range": "bytes=999999-"}).status_code == 416


def test_local_hub_keeps_its_state_on_disk(local_hub, make_release):
    pushed = push_release(make_release("0.1.0", V1), REPO, token=TOKEN, endpoint=local_hub.endpoint)
    with LocalHub(local_hub.root) as reopened:
        assert reopened.refs(REPO) == local_hub.refs(REPO)
        assert reopened.files(REPO, pushed.commit) == local_hub.files(REPO)
