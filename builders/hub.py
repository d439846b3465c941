"""Publish a release folder to the Hugging Face Hub: one commit on ``main`` plus a version tag.

A published version never changes. ``push_release`` makes ``main`` equal the release in a single
commit (stale data files are deleted in that same commit) and tags it ``v<version>``; pushing the
same content again is a no-op and pushing other content under an existing tag is refused.

A failed push leaves the repo as it was: the commit is made with ``parent_commit`` (so a concurrent
push cannot be overwritten), and when tagging fails after the commit, ``main`` is reset to its
previous commit (or, where the Hub refuses that, restored by a revert commit) before the error is
raised. A commit whose response was lost is recognised by its content and tagged, not repeated.

Xet: huggingface_hub uploads through Xet when ``hf_xet`` is installed and does not fall back to
LFS. Only the official Hub speaks Xet, so for any other endpoint (a mirror, an enterprise Hub, the
test server) Xet is switched off for the duration of the push and files go through git-LFS.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal
from urllib.parse import urlsplit

import httpx2
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationCopy,
    CommitOperationDelete,
    HfApi,
    constants,
    get_session,
    get_token,
)
from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

import builders
from builders.parquet import sha256_file

logger = logging.getLogger(__name__)

OFFICIAL_HOSTS = frozenset({"huggingface.co", "hf.co", "hub-ci.huggingface.co"})
DEFAULT_ENDPOINT = "https://huggingface.co"
MANIFEST = "manifest.json"
# Seconds to wait before each retry of the tag call on a transient error (5xx, network).
TAG_RETRY_DELAYS: tuple[float, ...] = (0.5, 2.0)
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_TOKEN_LIKE = re.compile(r"\bhf_[A-Za-z0-9]{8,}\b")
_XET_LOCK = threading.Lock()


class PushError(Exception):
    """A push that could not be done; the message says what failed and what to do, on one line."""


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    version: str
    tag: str
    commit: str
    status: Literal["pushed", "unchanged"]


@dataclass(frozen=True)
class Release:
    """A release folder checked against its manifest: the exact files that will be published."""

    folder: Path
    version: str
    files: dict[str, str]  # path in repo -> sha256, for every file the manifest lists
    name: str

    @property
    def tag(self) -> str:
        return f"v{self.version}"

    @property
    def paths(self) -> list[str]:
        return sorted(self.files) + [MANIFEST]


def read_release(folder: str | Path) -> Release:
    """Check that ``folder`` is exactly what its manifest describes, so the push publishes that."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise PushError(f"{folder}: no {MANIFEST}; build the release with `python -m builders.release` first")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PushError(f"{manifest_path}: unreadable ({exc}); rebuild the release") from exc
    version = manifest.get("version") if isinstance(manifest, dict) else None
    if not isinstance(version, str) or not _SEMVER.match(version):
        raise PushError(f"{manifest_path}: version {version!r} is not semver (like 0.1.0); "
                        "set `version` in the preset and rebuild")
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not listed:
        raise PushError(f"{manifest_path}: `files` is missing or empty; rebuild the release")
    if "README.md" not in listed:
        raise PushError(f"{manifest_path}: the release has no README.md (the dataset card the Hub needs); "
                        "rebuild the release")
    files = {}
    for rel, entry in sorted(listed.items()):
        files[rel] = _check_file(folder, rel, entry)
    extra = sorted(rel for rel in _folder_files(folder) if rel not in files and rel != MANIFEST)
    if extra:
        raise PushError(f"{folder}: {len(extra)} file(s) not in {MANIFEST} ({', '.join(extra[:5])}); "
                        "remove them or rebuild the release, so that what is pushed is what was built")
    return Release(folder=folder, version=version, files=files, name=str(manifest.get("dataset") or folder.name))


def _check_file(folder: Path, rel: str, entry: object) -> str:
    where = f"{folder / MANIFEST}: file {rel!r}"
    parts = rel.split("/")
    if rel.startswith("/") or "\\" in rel or any(p in ("", ".", "..") for p in parts) or rel == MANIFEST:
        raise PushError(f"{where} is not a plain relative path inside the release; rebuild the release")
    if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
        raise PushError(f"{where} has no sha256; rebuild the release")
    path = folder / rel
    if not path.is_file():
        raise PushError(f"{where} is missing from the folder; rebuild the release")
    size = entry.get("bytes")
    if size is not None and path.stat().st_size != size:
        raise PushError(f"{where} has {path.stat().st_size} bytes, the manifest says {size}: the folder "
                        "changed after the build; rebuild the release")
    if sha256_file(path) != entry["sha256"]:
        raise PushError(f"{where} does not match its sha256: the folder changed after the build; "
                        "rebuild the release")
    return entry["sha256"]


def _folder_files(folder: Path) -> Iterator[str]:
    """Files of the folder, leaving out hidden ones (.cache/ written by Hub downloads, .DS_Store)."""
    for path in folder.rglob("*"):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not any(part.startswith(".") for part in rel.split("/")):
            yield rel


def push_release(folder: str | Path, repo_id: str, *, token: str | None = None, endpoint: str | None = None,
                 private: bool = False) -> PushResult:
    """Publish the release in ``folder`` to the dataset repo ``repo_id`` as ``v<version>``.

    ``token`` defaults to ``HF_TOKEN`` (or the saved login), ``endpoint`` to ``HF_ENDPOINT`` (or the
    official Hub). Raises ``PushError`` with a one-line message on any failure.
    """
    release = read_release(folder)
    endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    try:
        token = token or get_token()
    except Exception as exc:  # an OIDC exchange that was asked for and failed
        raise PushError(f"could not get a Hub token ({_one_line(exc)}); set HF_TOKEN") from None
    pusher = _Pusher(release, repo_id, endpoint, token)
    with _xet_policy(endpoint):
        return pusher.push(private)


@contextlib.contextmanager
def _xet_policy(endpoint: str) -> Iterator[None]:
    """Switch Xet off for endpoints other than the official Hub (huggingface_hub reads the flag per call)."""
    if urlsplit(endpoint).hostname in OFFICIAL_HOSTS or constants.HF_HUB_DISABLE_XET:
        yield
        return
    logger.info("%s is not the official Hub: uploading through git-LFS (Xet is off for this push)", endpoint)
    with _XET_LOCK:
        previous = constants.HF_HUB_DISABLE_XET
        constants.HF_HUB_DISABLE_XET = True
        try:
            yield
        finally:
            constants.HF_HUB_DISABLE_XET = previous


def _one_line(error: object, limit: int = 300) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _redacted(text: str, token: str | None) -> str:
    if token:
        text = text.replace(token, "***")
    return _TOKEN_LIKE.sub("hf_***", text)


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


class _Pusher:
    """One push: the Hub calls, with every failure turned into a PushError that names what to do."""

    def __init__(self, release: Release, repo_id: str, endpoint: str, token: str | None):
        self.release, self.repo_id, self.endpoint, self._token = release, repo_id, endpoint, token
        self.api = HfApi(endpoint=endpoint, token=token, library_name="toolmind-builders",
                         library_version=builders.__version__)
        self.where = f"dataset repo {repo_id} at {endpoint}"

    # --- error handling --------------------------------------------------------------------
    def _reason(self, exc: BaseException) -> str:
        """The error on one line, with the token taken out before anything is cut."""
        return _one_line(_redacted(str(exc), self._token) or type(exc).__name__)

    def _advice(self, exc: BaseException) -> str:
        status = _status(exc)
        if isinstance(exc, RepositoryNotFoundError) or status in (401, 403):
            return (f"check the repo id and that the token (HF_TOKEN) may write to "
                    f"{self.repo_id.split('/')[0]}")
        if status == 412:
            return "someone else pushed to main meanwhile; run the push again"
        if isinstance(exc, httpx2.TransportError):
            return "check the network and HF_ENDPOINT, then run the push again"
        if status is not None and status >= 500:
            return "the Hub failed; run the push again (the repo was left as it was)"
        return "fix the cause above and run the push again (the repo was left as it was)"

    @contextlib.contextmanager
    def _step(self, what: str) -> Iterator[None]:
        try:
            yield
        except PushError:
            raise
        except (httpx2.HTTPError, OSError, ValueError, RuntimeError) as exc:
            raise PushError(f"{what} failed for {self.where}: {self._reason(exc)}; {self._advice(exc)}") from None

    # --- the push --------------------------------------------------------------------------
    def push(self, private: bool) -> PushResult:
        release, tag = self.release, self.release.tag
        logger.info("pushing %s %s (%d files) to %s", release.name, tag, len(release.paths), self.where)
        with self._step("creating the repo"):
            self.api.create_repo(self.repo_id, repo_type="dataset", private=private, exist_ok=True)
        branches, tags = self._refs()
        if tag in tags:
            return self._existing_version(tags[tag])
        head = branches.get("main")
        commit = self._commit(head)
        self._tag(head, commit)
        logger.info("pushed %s as %s (commit %s)", self.where, tag, commit[:10])
        return PushResult(self.repo_id, release.version, tag, commit, "pushed")

    def _refs(self) -> tuple[dict[str, str], dict[str, str]]:
        with self._step("reading the branches and tags"):
            refs = self.api.list_repo_refs(self.repo_id, repo_type="dataset")
        return ({b.name: b.target_commit for b in refs.branches}, {t.name: t.target_commit for t in refs.tags})

    def _existing_version(self, tagged: str) -> PushResult:
        release = self.release
        changed = self._changed(self._remote_manifest(tagged))
        if changed is None:
            raise PushError(f"{self.where} already has tag {release.tag} without a readable {MANIFEST}: it was not "
                            "published by this tool; choose another version in the preset")
        if changed:
            raise PushError(f"{self.where} already has {release.tag} with different content "
                            f"({len(changed)} file(s) differ: {', '.join(changed[:3])}); a published version never "
                            "changes: bump `version` in the preset and rebuild the release")
        logger.info("%s already has %s with the same content: nothing to push", self.where, release.tag)
        return PushResult(self.repo_id, release.version, release.tag, tagged, "unchanged")

    def _remote_manifest(self, revision: str) -> dict | None:
        with self._step(f"reading {MANIFEST} at {revision[:10]}"), tempfile.TemporaryDirectory() as cache:
            try:
                path = self.api.hf_hub_download(self.repo_id, MANIFEST, repo_type="dataset", revision=revision,
                                                cache_dir=cache)
            except EntryNotFoundError:
                return None
            try:
                data = json.loads(Path(path).read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                return None
        return data if isinstance(data, dict) else None

    def _changed(self, remote: dict | None) -> list[str] | None:
        """Paths whose sha256 differs between the release and a remote manifest (None: no manifest)."""
        if remote is None or not isinstance(remote.get("files"), dict):
            return None
        theirs = {p: e.get("sha256") for p, e in remote["files"].items() if isinstance(e, dict)}
        ours = self.release.files
        return sorted(p for p in ours.keys() | theirs.keys() if ours.get(p) != theirs.get(p))

    def _operations(self, head: str | None) -> list:
        """Add every release file; delete remote files this release replaces (old data, old manifest files)."""
        release = self.release
        remote: list[str] = []
        previous: dict = {}
        if head is not None:
            with self._step("listing the files on main"):
                remote = self.api.list_repo_files(self.repo_id, repo_type="dataset", revision=head)
            if MANIFEST in remote:
                previous = (self._remote_manifest(head) or {}).get("files") or {}
        keep = set(release.paths)
        stale = [p for p in remote if p not in keep and (p.startswith("data/") or p in previous)]
        if stale:
            logger.info("deleting %d file(s) of the previous release: %s", len(stale), ", ".join(stale[:5]))
        return ([CommitOperationDelete(path_in_repo=p, is_folder=False) for p in stale]
                + [CommitOperationAdd(path_in_repo=p, path_or_fileobj=release.folder / p) for p in release.paths])

    def _commit(self, head: str | None) -> str:
        release = self.release
        operations = self._operations(head)
        description = (f"{release.name} {release.tag}: {len(release.files)} files, "
                       f"published by toolmind-builders {builders.__version__}")
        try:
            with self._step("uploading the release"):
                info = self.api.create_commit(self.repo_id, operations, commit_message=f"Release {release.tag}",
                                              commit_description=description, repo_type="dataset",
                                              revision="main", parent_commit=head)
        except PushError:
            landed = self._landed_commit(head)
            if landed is None:
                raise
            logger.warning("the commit response was lost but %s landed on main as %s", release.tag, landed[:10])
            return landed
        if info.oid == head:
            logger.info("main already holds this content: tagging commit %s", head[:10])
        return info.oid

    def _landed_commit(self, head: str | None) -> str | None:
        """After a failed commit call: the new main, if it is exactly this release (a lost response)."""
        try:
            branches, _ = self._refs()
            main = branches.get("main")
            if main and main != head and self._changed(self._remote_manifest(main)) == []:
                return main
        except PushError:
            pass
        return None

    def _tag(self, head: str | None, commit: str) -> None:
        tag = self.release.tag
        delays = (0.0, *TAG_RETRY_DELAYS)
        for attempt, delay in enumerate(delays, start=1):
            time.sleep(delay)
            try:
                self.api.create_tag(self.repo_id, tag=tag, revision=commit, repo_type="dataset",
                                    tag_message=f"{self.release.name} {tag}")
                return
            except (httpx2.HTTPError, OSError, ValueError) as exc:
                if _status(exc) == 409 and self._refs()[1].get(tag) == commit:
                    return  # an earlier attempt did create it (its response was lost)
                transient = isinstance(exc, httpx2.TransportError) or (_status(exc) or 0) >= 500
                if transient and attempt < len(delays):
                    logger.warning("tagging %s failed (%s); retrying", tag, self._reason(exc))
                    continue
                undone = self._undo(head, commit)
                advice = self._advice(exc) if _status(exc) in (401, 403) else "run the push again"
                raise PushError(f"tagging {tag} failed for {self.where}: {self._reason(exc)}; {undone}; "
                                f"nothing was published; {advice}") from None

    def _undo(self, head: str | None, commit: str) -> str:
        """Put main back where it was before this push's commit; say what was done."""
        if head is None or head == commit:
            return "main was not changed"
        branches, _ = self._refs()
        if branches.get("main") != commit:
            raise PushError(f"tagging {self.release.tag} failed for {self.where} and main has moved on since this "
                            f"push's commit {commit[:10]}; check the repo history and restore main by hand")
        with contextlib.suppress(PushError):
            with self._step("resetting main"):
                response = get_session().post(
                    f"{self.endpoint}/api/datasets/{self.repo_id}/branch/main",
                    headers=build_hf_headers(token=self._token),
                    json={"startingPoint": head, "overwrite": True},
                )
                hf_raise_for_status(response)
            if self._refs()[0].get("main") == head:
                return f"main was reset to {head[:10]}"
        logger.warning("could not reset main on %s; restoring its files with a revert commit", self.where)
        try:
            with self._step("restoring main"):
                before, after = self._tree(head), self._tree(commit)
                operations = [CommitOperationDelete(path_in_repo=p, is_folder=False) for p in after if p not in before]
                operations += [CommitOperationCopy(src_path_in_repo=p, path_in_repo=p, src_revision=head)
                               for p, blob in before.items() if after.get(p) != blob]
                self.api.create_commit(self.repo_id, operations, repo_type="dataset", revision="main",
                                       commit_message=f"Revert failed release {self.release.tag}", parent_commit=commit)
        except PushError as exc:
            raise PushError(f"tagging {self.release.tag} failed for {self.where} and main could not be put back "
                            f"({exc}); main holds this release untagged at {commit[:10]}: run the push again to "
                            "tag it") from None
        return f"main's files were restored to {head[:10]} by a revert commit"

    def _tree(self, revision: str) -> dict[str, str]:
        entries = self.api.list_repo_tree(self.repo_id, repo_type="dataset", revision=revision, recursive=True)
        return {e.path: e.blob_id for e in entries if hasattr(e, "blob_id")}

