"""A Hugging Face Hub compatible HTTP server for tests, stdlib only.

The real clients (``huggingface_hub.HfApi``, ``HfFileSystem``, ``datasets.load_dataset``) talk
to it exactly as they talk to huggingface.co, so a push/load round trip is tested without the
network. It keeps real history: content-addressed blobs on disk, commits with sha1 ids,
branches and tags, LFS uploads (batch -> PUT -> verify) and the NDJSON commit endpoint with its
``parentCommit`` check. Requests it does not know are answered 404 and logged loudly (and kept
in ``LocalHub.unhandled``) so a client upgrade that needs a new endpoint shows up at once.

Tokens: any ``Authorization`` header is accepted; the server only counts that one was sent and
never stores or logs it. Xet is not spoken: clients must run with ``HF_HUB_DISABLE_XET=1``.

Fault injection (``LocalHub.inject_fault``) makes an endpoint fail, before or after it acts, so
tests can prove that a failed push leaves the repo as it was.

Run standalone: ``python tests/local_hub.py --root DIR [--port N]``.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

logger = logging.getLogger("local_hub")

REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024
CHUNK = 1024 * 1024
# What the Hub writes into a new repo's .gitattributes (the binary formats that go to LFS).
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib",
        "*.lfs.*", "*.lz4", "*.mds", "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz",
        "*.onnx", "*.ot", "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar",
        "*.safetensors", "saved_model/**/*", "*.tar.*", "*.tar", "*.tflite", "*.tgz", "*.wasm",
        "*.xz", "*.zip", "*.zst", "*tfevents*", "*.mp3", "*.ogg", "*.wav", "*.jpg", "*.jpeg",
        "*.png", "*.webp", "*.mp4", "*.webm",
    )
)

# tag and branch names the Hub accepts
_REF_NAME = re.compile(r"[\w.\-]+(/[\w.\-]+)*")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


class HubError(Exception):
    """An HTTP error answered the way the Hub answers it (status, X-Error-Code, JSON body)."""

    def __init__(self, status: int, message: str, code: str | None = None, **body: Any):
        super().__init__(message)
        self.status, self.message, self.code, self.body = status, message, code, body


def repo_not_found(repo_id: str) -> HubError:
    return HubError(404, f"Repository not found: {repo_id}", "RepoNotFound")


@dataclass
class Fault:
    op: str
    status: int
    times: int  # -1: for ever
    after: bool  # fail after the operation took effect (a lost response)
    message: str


class Repo:
    """One repository: refs and commits as JSON on disk, file contents in the hub's blob store."""

    def __init__(self, path: Path, state: dict):
        self.path, self.state = path, state

    @property
    def repo_type(self) -> str:
        return self.state["type"]

    @property
    def repo_id(self) -> str:
        return self.state["id"]

    def save(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / "repo.json.tmp"
        tmp.write_text(json.dumps(self.state, indent=1, sort_keys=True))
        tmp.replace(self.path / "repo.json")

    # --- revisions -------------------------------------------------------------------------
    def resolve(self, rev: str) -> str:
        """Branch, tag, full or abbreviated (>= 7) commit id -> commit id."""
        rev = rev.removeprefix("refs/heads/").removeprefix("refs/tags/")
        for table in ("branches", "tags"):
            if rev in self.state[table]:
                return self.state[table][rev]
        commits = self.state["commits"]
        if rev in commits:
            return rev
        if re.fullmatch(r"[0-9a-f]{7,39}", rev):
            found = [oid for oid in commits if oid.startswith(rev)]
            if len(found) == 1:
                return found[0]
        raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")

    def commit(self, oid: str) -> dict:
        return self.state["commits"][oid]

    def tree(self, oid: str | None) -> dict[str, dict]:
        return dict(self.commit(oid)["tree"]) if oid else {}

    def history(self, oid: str | None):
        while oid:
            yield oid, self.commit(oid)
            parents = self.commit(oid)["parents"]
            oid = parents[0] if parents else None

    def last_commit(self, head: str, path: str, is_dir: bool) -> dict:
        """The newest commit that changed ``path`` (or anything below it, for a folder)."""

        def view(tree: dict) -> Any:
            if not is_dir:
                return tree.get(path)
            return sorted((p, e["oid"]) for p, e in tree.items() if p.startswith(path + "/"))

        chain = list(self.history(head))
        for i, (oid, commit) in enumerate(chain):
            parent_tree = chain[i + 1][1]["tree"] if i + 1 < len(chain) else {}
            if view(commit["tree"]) != view(parent_tree):
                return {"id": oid, "title": commit["title"], "date": commit["date"]}
        oid, commit = chain[-1]
        return {"id": oid, "title": commit["title"], "date": commit["date"]}


class LocalHub:
    """The server and its state. ``start()`` runs it in a daemon thread; ``stop()`` shuts it down."""

    def __init__(self, root: str | Path, host: str = "127.0.0.1", port: int = 0, user: str = "local-user"):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.user = user
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], Repo] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, path without query, status)
        self.unhandled: list[str] = []
        self.authorized_requests = 0
        self._load()
        self.httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LocalHub":
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="local-hub", daemon=True)
        self._thread.start()
        logger.info("local hub serving %s at %s", self.root, self.endpoint)
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> "LocalHub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _load(self) -> None:
        for state_file in sorted(self.root.glob("repos/*/*/*/repo.json")):
            state = json.loads(state_file.read_text())
            self.repos[(state["type"], state["id"])] = Repo(state_file.parent, state)

    # --- test helpers ----------------------------------------------------------------------
    def inject_fault(self, op: str, *, status: int = 500, times: int = 1, after: bool = False,
                     message: str = "injected failure") -> None:
        """Make the next ``times`` calls of endpoint ``op`` fail (-1: all of them).

        ``op`` is one of: create_repo, validate_yaml, repo_info, preupload, lfs_batch, lfs_upload,
        lfs_verify, commit, tag, delete_tag, branch, delete_branch, refs, commits, tree,
        paths_info, resolve. ``after=True`` lets the operation take effect and then answers the
        error, like a response lost on the way back.
        """
        with self.lock:
            self.faults.append(Fault(op, status, times, after, message))

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def refs(self, repo_id: str, repo_type: str = "dataset") -> dict:
        """{"branches": {name: commit}, "tags": {name: commit}} — a deep copy, safe to keep."""
        with self.lock:
            repo = self._repo(repo_type, repo_id)
            return {"branches": dict(repo.state["branches"]), "tags": dict(repo.state["tags"])}

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "dataset") -> dict[str, bytes]:
        """Every file of the repo at ``revision`` with its content."""
        with self.lock:
            repo = self._repo(repo_type, repo_id)
            tree = repo.tree(repo.resolve(revision))
        return {path: self._blob_path(entry["sha256"]).read_bytes() for path, entry in tree.items()}

    def commit_ids(self, repo_id: str, revision: str = "main", repo_type: str = "dataset") -> list[str]:
        """Commit ids reachable from ``revision``, newest first."""
        with self.lock:
            repo = self._repo(repo_type, repo_id)
            return [oid for oid, _ in repo.history(repo.resolve(revision))]

    def client_env(self, **extra: str) -> dict[str, str]:
        """Environment for a client process of this hub: its endpoint, fresh caches, no Xet, no token.

        huggingface_hub and datasets read HF_ENDPOINT and the cache folders once, at import, so a
        client pointed at this hub is a fresh interpreter started with this environment.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
        home = self.root / "client-home"
        env.update(HF_ENDPOINT=self.endpoint, HF_HOME=str(home), HF_DATASETS_CACHE=str(home / "datasets"),
                   HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
                   HF_DATASETS_DISABLE_PROGRESS_BARS="1")
        env.update(extra)
        return env

    def run_client(self, code: str, *args: str, timeout: float = 300, **env: str) -> str:
        """Run Python ``code`` (with ``args`` as sys.argv[1:]) against this hub; return its stdout."""
        proc = subprocess.run([sys.executable, "-c", code, *args], env=self.client_env(**env),
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"client process failed (exit {proc.returncode}); requests the hub did not "
                                 f"know: {self.unhandled}\n{proc.stderr[-4000:]}")
        return proc.stdout

    def load_rows(self, requests: dict[str, dict]) -> dict[str, list[dict]]:
        """``datasets.load_dataset(**kwargs)`` for each named request, in one client process.

        Every request names a ``split``; ``streaming=True`` is allowed. Returns the rows as dicts.
        """
        for key, kwargs in requests.items():
            if "split" not in kwargs:
                raise ValueError(f"load request {key!r} has no split; name one (e.g. split='train')")
        out = self.run_client(_LOAD_ROWS, json.dumps(requests))
        return json.loads(out.strip().splitlines()[-1])

    def stored_paths(self) -> list[Path]:
        """Every file the hub wrote to disk (to check that nothing secret was stored)."""
        return [p for p in self.root.rglob("*") if p.is_file()]

    # --- storage ---------------------------------------------------------------------------
    def _blob_path(self, sha256: str) -> Path:
        return self.objects / sha256[:2] / sha256

    def _has_blob(self, sha256: str, size: int | None = None) -> bool:
        path = self._blob_path(sha256)
        return path.is_file() and (size is None or path.stat().st_size == size)

    def _store_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self._has_blob(sha):
            self._write_blob(sha, [data])
        return sha

    def _write_blob(self, sha256: str, chunks) -> None:
        target = self._blob_path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as fh:
            for chunk in chunks:
                digest.update(chunk)
                fh.write(chunk)
        if digest.hexdigest() != sha256:
            Path(fh.name).unlink()
            raise HubError(400, f"uploaded content does not match its oid sha256:{sha256}")
        Path(fh.name).replace(target)

    def _repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise repo_not_found(repo_id)
        return repo

    def _entry(self, sha256: str, size: int, lfs: bool) -> dict:
        if lfs:
            pointer = lfs_pointer(sha256, size)
            return {"sha256": sha256, "size": size, "lfs": True, "oid": git_blob_id(pointer),
                    "pointer_size": len(pointer)}
        return {"sha256": sha256, "size": size, "lfs": False,
                "oid": git_blob_id(self._blob_path(sha256).read_bytes())}

    def _new_commit(self, repo: Repo, parent: str | None, tree: dict, title: str, message: str) -> str:
        body = {"parents": [parent] if parent else [], "tree": tree, "title": title,
                "message": message, "date": now_iso(), "author": self.user}
        oid = hashlib.sha1(json.dumps(body, sort_keys=True).encode() + str(time.time_ns()).encode()).hexdigest()
        repo.state["commits"][oid] = body
        return oid

    def _create_repo(self, repo_type: str, repo_id: str, private: bool) -> Repo:
        state = {"type": repo_type, "id": repo_id, "private": private, "created_at": now_iso(),
                 "branches": {}, "tags": {}, "commits": {}}
        repo = Repo(self.root / "repos" / f"{repo_type}s" / repo_id, state)
        sha = self._store_bytes(DEFAULT_GITATTRIBUTES.encode())
        tree = {".gitattributes": self._entry(sha, len(DEFAULT_GITATTRIBUTES), lfs=False)}
        state["branches"]["main"] = self._new_commit(repo, None, tree, "initial commit", "")
        repo.save()
        self.repos[(repo_type, repo_id)] = repo
        return repo

    def _check_fault(self, op: str, after: bool) -> None:
        with self.lock:
            for fault in self.faults:
                if fault.op == op and fault.after == after and fault.times != 0:
                    fault.times -= 1 if fault.times > 0 else 0
                    logger.info("local hub: injected %s on %s (after=%s)", fault.status, op, after)
                    raise HubError(fault.status, fault.message)

    def _lfs_mode(self, repo: Repo, head: str | None, path: str, size: int, sample: bytes) -> bool:
        attributes = repo.tree(head).get(".gitattributes")
        text = self._blob_path(attributes["sha256"]).read_text() if attributes else ""
        patterns = [line.split()[0] for line in text.splitlines()
                    if line.strip() and not line.startswith("#") and "filter=lfs" in line]
        name = path.rsplit("/", 1)[-1]
        matched = any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(name, p) for p in patterns)
        return matched or size >= LFS_SIZE_THRESHOLD or b"\0" in sample

    # --- listing ---------------------------------------------------------------------------
    def _path_info(self, repo: Repo, head: str, path: str, entry: dict | None, expand: bool) -> dict:
        if entry is None:  # a folder
            tree = repo.tree(head)
            below = sorted((p, e["oid"]) for p, e in tree.items() if p.startswith(path + "/"))
            info = {"type": "directory", "oid": hashlib.sha1(json.dumps(below).encode()).hexdigest(),
                    "size": 0, "path": path}
        else:
            info = {"type": "file", "oid": entry["oid"], "size": entry["size"], "path": path}
            if entry["lfs"]:
                info["lfs"] = {"oid": entry["sha256"], "size": entry["size"], "pointerSize": entry["pointer_size"]}
        if expand:
            info["lastCommit"] = repo.last_commit(head, path, is_dir=entry is None)
        return info

    def _list_tree(self, repo: Repo, head: str, path: str, recursive: bool, expand: bool) -> list[dict]:
        tree = repo.tree(head)
        prefix = path.strip("/") + "/" if path.strip("/") else ""
        if prefix and not any(p.startswith(prefix) for p in tree):
            raise HubError(404, f"{path} does not exist on {head}", "EntryNotFound")
        out: dict[str, dict] = {}
        for p in sorted(tree):
            if not p.startswith(prefix):
                continue
            parts = p[len(prefix):].split("/")
            for depth in range(1, len(parts)):  # the folders on the way
                if recursive or depth == 1:
                    folder = prefix + "/".join(parts[:depth])
                    out.setdefault(folder, None)
            if recursive or len(parts) == 1:
                out[p] = tree[p]
        return [self._path_info(repo, head, p, e, expand) for p, e in out.items()]

    def _paths_info(self, repo: Repo, head: str, paths: list[str], expand: bool) -> list[dict]:
        tree = repo.tree(head)
        out = []
        for path in paths:
            path = path.strip("/")
            if path in tree:
                out.append(self._path_info(repo, head, path, tree[path], expand))
            elif any(p.startswith(path + "/") for p in tree):
                out.append(self._path_info(repo, head, path, None, expand))
        return out

    def _repo_info(self, repo: Repo, head: str | None, blobs: bool) -> dict:
        tree = repo.tree(head)
        siblings = []
        for path, entry in sorted(tree.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if blobs:
                sibling.update(size=entry["size"], blobId=entry["oid"])
                if entry["lfs"]:
                    sibling["lfs"] = {"sha256": entry["sha256"], "size": entry["size"],
                                      "pointerSize": entry["pointer_size"]}
            siblings.append(sibling)
        info = {"_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24], "id": repo.repo_id,
                "author": repo.repo_id.split("/")[0], "sha": head, "private": repo.state["private"],
                "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": [],
                "createdAt": repo.state["created_at"],
                "lastModified": repo.commit(head)["date"] if head else repo.state["created_at"],
                "siblings": siblings}
        card = self._card_data(tree.get("README.md"))
        if card is not None:
            info["cardData"] = card
        return info

    def _card_data(self, entry: dict | None) -> dict | None:
        if entry is None:
            return None
        try:
            return parse_front_matter(self._blob_path(entry["sha256"]).read_text())
        except ValueError:
            return None


_LOAD_ROWS = """
import json, sys
from datasets import load_dataset
rows = {key: list(load_dataset(**kwargs)) for key, kwargs in json.loads(sys.argv[1]).items()}
print(json.dumps(rows, default=str))
"""


def parse_front_matter(text: str) -> dict | None:
    """The YAML header of a README (None if there is none); ValueError if it is not valid YAML."""
    import yaml  # pyyaml: a dependency of huggingface_hub, hence always there with the clients

    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", text, flags=re.S)
    if not match:
        return None
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        raise ValueError(" ".join(str(exc).split())) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError("the YAML front matter must be a mapping")
    return data


def _make_handler(hub: LocalHub):
    class Handler(_HubHandler):
        pass

    Handler.hub = hub
    return Handler


class _HubHandler(BaseHTTPRequestHandler):
    """Routes Hub requests to ``LocalHub``. One instance per request (stdlib convention)."""

    hub: LocalHub
    protocol_version = "HTTP/1.1"
    server_version = "LocalHub/1.0"

    # --- plumbing --------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug("local hub: " + format, *args)  # the request line only: never headers

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        self._body_read = False
        self._status = 0
        split = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        if self.headers.get("Authorization"):
            with self.hub.lock:
                self.hub.authorized_requests += 1
        try:
            route = self._route(method, split.path)
            if route is None:
                message = f"local hub has no route for {method} {split.path}"
                logger.warning("%s (add it to tests/local_hub.py if a client needs it)", message)
                with self.hub.lock:
                    self.hub.unhandled.append(f"{method} {split.path}")
                raise HubError(404, message)
            handler, args = route
            handler(*args)
        except HubError as err:
            self._error(err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away mid-response
        except Exception as exc:  # a server bug: answer 500 and say so
            logger.exception("local hub crashed on %s %s", method, split.path)
            self._error(HubError(500, f"local hub internal error: {exc}"))
        finally:
            with self.hub.lock:
                self.hub.requests.append((method, split.path, self._status))

    def _route(self, method: str, raw_path: str):
        seg = [unquote(s) for s in raw_path.strip("/").split("/")]
        if method == "POST" and raw_path == "/api/repos/create":
            return self.create_repo, ()
        if method == "POST" and raw_path == "/api/validate-yaml":
            return self.validate_yaml, ()
        if method == "GET" and raw_path == "/api/whoami-v2":
            return self.whoami, ()
        if method == "GET" and raw_path == "/api/agent-harnesses":  # huggingface_hub's agent registry
            return self._json, ({"standardEnvVars": [], "harnesses": {}},)
        if seg[0] == "__lfs__" and len(seg) == 2:
            if method == "PUT":
                return self.lfs_upload, (seg[1],)
            if method == "POST" and seg[1] == "verify":
                return self.lfs_verify, ()
        if seg[0] == "api" and len(seg) >= 4 and seg[1] in REPO_TYPES:
            repo_type, repo_id, rest = REPO_TYPES[seg[1]], f"{seg[2]}/{seg[3]}", seg[4:]
            return self._api_route(method, repo_type, repo_id, rest)
        # git-lfs and file routes: [datasets|spaces/]ns/name(.git/info/lfs/objects/batch | /resolve/rev/path)
        repo_type = REPO_TYPES.get(seg[0]) if seg[0] in ("datasets", "spaces") else "model"
        rest = seg[1:] if repo_type != "model" else seg
        if len(rest) >= 2 and rest[1].endswith(".git") and rest[2:] == ["info", "lfs", "objects", "batch"]:
            if method == "POST":
                return self.lfs_batch, (repo_type, f"{rest[0]}/{rest[1][:-4]}")
        if len(rest) >= 5 and rest[2] == "resolve" and method in ("GET", "HEAD"):
            return self.resolve, (repo_type, f"{rest[0]}/{rest[1]}", rest[3], "/".join(rest[4:]), method)
        return None

    def _api_route(self, method: str, repo_type: str, repo_id: str, rest: list[str]):
        action, args = (rest[0] if rest else ""), rest[1:]
        table = {
            ("GET", ""): (self.repo_info, (repo_type, repo_id, None)),
            ("GET", "revision"): (self.repo_info, (repo_type, repo_id, "/".join(args))),
            ("GET", "refs"): (self.list_refs, (repo_type, repo_id)),
            ("GET", "commits"): (self.list_commits, (repo_type, repo_id, args[0] if args else "main")),
            ("GET", "tree"): (self.tree, (repo_type, repo_id, args[0] if args else "main", "/".join(args[1:]))),
            ("POST", "paths-info"): (self.paths_info, (repo_type, repo_id, "/".join(args))),
            ("POST", "preupload"): (self.preupload, (repo_type, repo_id, "/".join(args))),
            ("POST", "commit"): (self.commit, (repo_type, repo_id, "/".join(args))),
            ("POST", "tag"): (self.create_tag, (repo_type, repo_id, "/".join(args))),
            ("DELETE", "tag"): (self.delete_tag, (repo_type, repo_id, "/".join(args))),
            ("POST", "branch"): (self.create_branch, (repo_type, repo_id, "/".join(args))),
            ("DELETE", "branch"): (self.delete_branch, (repo_type, repo_id, "/".join(args))),
        }
        if (method, action) in table and (action in ("", "refs") or args):
            return table[(method, action)]
        if action.startswith("xet-"):
            raise HubError(404, "this local hub does not speak Xet: set HF_HUB_DISABLE_XET=1 in the client")
        return None

    def _read_body(self) -> bytes:
        self._body_read = True
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return b"".join(self._iter_chunked())
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _iter_body(self):
        """Stream the request body (Content-Length or chunked) without holding it in memory."""
        self._body_read = True
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            yield from self._iter_chunked()
            return
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            chunk = self.rfile.read(min(CHUNK, remaining))
            if not chunk:
                raise HubError(400, "request body ended early")
            remaining -= len(chunk)
            yield chunk

    def _iter_chunked(self):
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            yield self.rfile.read(size)
            self.rfile.readline()

    def _json_body(self) -> dict:
        body = self._read_body()
        try:
            return json.loads(body or b"{}")
        except json.JSONDecodeError as exc:
            raise HubError(400, f"request body is not JSON: {exc}") from exc

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None,
              content_type: str = "application/json") -> None:
        if not self._body_read and self.command in ("POST", "PUT"):
            self.close_connection = True  # the unread body would corrupt the next request
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", hashlib.sha1(f"{time.time_ns()}".encode()).hexdigest()[:16])
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200, headers: dict | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers)

    def _error(self, err: HubError) -> None:
        if self._status:  # the response has started: all we can do is drop the connection
            self.close_connection = True
            return
        headers = {"X-Error-Message": err.message.encode("ascii", "replace").decode()}
        if err.code:
            headers["X-Error-Code"] = err.code
        self._send(err.status, json.dumps({"error": err.message, **err.body}).encode(), headers)

    def _guarded(self, op: str, action) -> Any:
        """Run one state-changing or reading action under the hub lock, honouring injected faults."""
        self.hub._check_fault(op, after=False)
        with self.hub.lock:
            result = action()
        self.hub._check_fault(op, after=True)
        return result

    def _repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.hub._repo(repo_type, repo_id)
        if repo.state["private"] and not self.headers.get("Authorization"):
            raise repo_not_found(repo_id)  # the Hub hides private repos from anonymous users
        return repo

    def _repo_url(self, repo: Repo) -> str:
        return f"{self.hub.endpoint}/{URL_PREFIX[repo.repo_type]}{repo.repo_id}"

    # --- endpoints -------------------------------------------------------------------------
    def whoami(self) -> None:
        if not self.headers.get("Authorization"):
            raise HubError(401, "Invalid credentials in Authorization header")
        self._json({"type": "user", "name": self.hub.user, "fullname": self.hub.user, "orgs": [],
                    "auth": {"type": "access_token", "accessToken": {"role": "write"}}})

    def create_repo(self) -> None:
        payload = self._json_body()
        repo_type = payload.get("type") or "model"
        name, org = payload.get("name"), payload.get("organization")
        if repo_type not in URL_PREFIX or not name or not re.fullmatch(r"[\w.\-]+", name):
            raise HubError(400, f"invalid repo type or name: {repo_type!r} {name!r}")
        repo_id = f"{org or self.hub.user}/{name}"
        private = payload.get("visibility", "public") != "public" or bool(payload.get("private"))

        def action():
            if (repo_type, repo_id) in self.hub.repos:  # the Hub says where the existing repo is
                existing = self.hub.repos[(repo_type, repo_id)]
                raise HubError(409, "You already created this repo", url=self._repo_url(existing))
            return self.hub._create_repo(repo_type, repo_id, private)

        repo = self._guarded("create_repo", action)
        self._json({"url": self._repo_url(repo), "name": repo_id, "id": hashlib.sha1(repo_id.encode()).hexdigest()})

    def validate_yaml(self) -> None:
        payload = self._json_body()
        self.hub._check_fault("validate_yaml", after=False)
        try:
            parse_front_matter(payload.get("content", ""))
        except ValueError as exc:
            self._json({"error": "Invalid metadata", "errors": [{"message": str(exc)}], "warnings": []}, 400)
            return
        self._json({"errors": [], "warnings": []})

    def repo_info(self, repo_type: str, repo_id: str, revision: str | None) -> None:
        def action():
            repo = self._repo(repo_type, repo_id)
            head = repo.resolve(revision) if revision else repo.state["branches"].get("main")
            return self.hub._repo_info(repo, head, blobs=self.query.get("blobs", "").lower() in ("1", "true"))

        self._json(self._guarded("repo_info", action))

    def list_refs(self, repo_type: str, repo_id: str) -> None:
        def action():
            repo = self._repo(repo_type, repo_id)
            refs = {"branches": [], "tags": [], "converts": [], "pullRequests": []}
            for kind, key in (("heads", "branches"), ("tags", "tags")):
                for name, oid in sorted(repo.state[key].items()):
                    refs[key].append({"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": oid})
            return refs

        self._json(self._guarded("refs", action))

    def list_commits(self, repo_type: str, repo_id: str, revision: str) -> None:
        def action():
            repo = self._repo(repo_type, repo_id)
            return [{"id": oid, "title": c["title"], "message": c["message"], "date": c["date"],
                     "authors": [{"user": c["author"]}]} for oid, c in repo.history(repo.resolve(revision))]

        self._json(self._guarded("commits", action))

    def tree(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        recursive = self.query.get("recursive", "").lower() in ("1", "true")
        expand = self.query.get("expand", "").lower() in ("1", "true")

        def action():
            repo = self._repo(repo_type, repo_id)
            return self.hub._list_tree(repo, repo.resolve(revision), path, recursive, expand)

        self._json(self._guarded("tree", action))

    def paths_info(self, repo_type: str, repo_id: str, revision: str) -> None:
        body = self._read_body()
        if "json" in self.headers.get("Content-Type", ""):
            payload = json.loads(body or b"{}")
            paths, expand = payload.get("paths", []), bool(payload.get("expand"))
        else:
            form = parse_qs(body.decode())
            paths = form.get("paths", [])
            expand = form.get("expand", ["false"])[-1].lower() in ("1", "true")

        def action():
            repo = self._repo(repo_type, repo_id)
            return self.hub._paths_info(repo, repo.resolve(revision), paths, expand)

        self._json(self._guarded("paths_info", action))

    def preupload(self, repo_type: str, repo_id: str, revision: str) -> None:
        payload = self._json_body()

        def action():
            repo = self._repo(repo_type, repo_id)
            head = repo.resolve(revision)
            tree = repo.tree(head)
            files = []
            for item in payload.get("files", []):
                sample = base64.b64decode(item.get("sample", ""))
                lfs = self.hub._lfs_mode(repo, head, item["path"], int(item.get("size", 0)), sample)
                remote = tree.get(item["path"])
                oid = None
                if remote is not None and remote["lfs"] == lfs:
                    oid = remote["sha256"] if lfs else remote["oid"]
                files.append({"path": item["path"], "uploadMode": "lfs" if lfs else "regular",
                              "shouldIgnore": False, "oid": oid})
            return {"files": files, "commitOid": head}

        self._json(self._guarded("preupload", action))

    def lfs_batch(self, repo_type: str, repo_id: str) -> None:
        payload = self._json_body()
        if payload.get("operation") != "upload":
            raise HubError(400, "this local hub only implements LFS uploads (downloads go through /resolve)")

        def action():
            self._repo(repo_type, repo_id)
            objects = []
            for obj in payload.get("objects", []):
                oid, size = obj["oid"], int(obj["size"])
                entry = {"oid": oid, "size": size, "authenticated": True}
                if not self.hub._has_blob(oid, size):
                    entry["actions"] = {
                        "upload": {"href": f"{self.hub.endpoint}/__lfs__/{oid}", "header": {}},
                        "verify": {"href": f"{self.hub.endpoint}/__lfs__/verify", "header": {}},
                    }
                objects.append(entry)
            return {"transfer": "basic", "objects": objects}

        self._send(200, json.dumps(self._guarded("lfs_batch", action)).encode(),
                   content_type="application/vnd.git-lfs+json")

    def lfs_upload(self, oid: str) -> None:
        if not re.fullmatch(r"[0-9a-f]{64}", oid):
            raise HubError(400, f"not a sha256 oid: {oid}")
        self.hub._check_fault("lfs_upload", after=False)
        self.hub._write_blob(oid, self._iter_body())
        self.hub._check_fault("lfs_upload", after=True)
        self._send(200)

    def lfs_verify(self) -> None:
        payload = self._json_body()
        self.hub._check_fault("lfs_verify", after=False)
        if not self.hub._has_blob(payload.get("oid", ""), payload.get("size")):
            raise HubError(404, f"LFS object {payload.get('oid')} was not uploaded (or has another size)")
        self._json({"success": True})

    def commit(self, repo_type: str, repo_id: str, revision: str) -> None:
        lines = [json.loads(line) for line in self._read_body().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the commit payload must start with a header line")
        header = lines[0]["value"]
        if not header.get("summary"):
            raise HubError(400, "the commit summary is empty")
        if self.query.get("create_pr"):
            raise HubError(400, "this local hub does not implement pull requests")

        def action():
            repo = self._repo(repo_type, repo_id)
            if revision not in repo.state["branches"]:
                raise HubError(404, f"Invalid rev id: {revision} is not a branch", "RevisionNotFound")
            head = repo.state["branches"][revision]
            parent = header.get("parentCommit")
            if parent and not head.startswith(parent):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            tree = repo.tree(head)
            for line in lines[1:]:
                self._apply(repo, tree, line["key"], line["value"])
            oid = self.hub._new_commit(repo, head, tree, header["summary"], header.get("description", ""))
            repo.state["branches"][revision] = oid
            repo.save()
            return oid

        oid = self._guarded("commit", action)
        repo = self.hub._repo(repo_type, repo_id)
        self._json({"success": True, "commitOid": oid, "commitUrl": f"{self._repo_url(repo)}/commit/{oid}",
                    "hookOutput": "", "pullRequestUrl": None})

    def _apply(self, repo: Repo, tree: dict, key: str, value: dict) -> None:
        path = value.get("path", "").strip("/")
        if not path or ".." in path.split("/"):
            raise HubError(400, f"invalid path in commit: {path!r}")
        if key == "file":
            data = base64.b64decode(value["content"]) if value.get("encoding") == "base64" else value["content"].encode()
            tree[path] = self.hub._entry(self.hub._store_bytes(data), len(data), lfs=False)
        elif key == "lfsFile":
            oid = value.get("oid", "")
            if not self.hub._has_blob(oid):
                raise HubError(422, f"LFS object {oid} for {path} was never uploaded")
            size = self.hub._blob_path(oid).stat().st_size
            if value.get("size") not in (None, size):
                raise HubError(422, f"LFS object {oid} has {size} bytes, the commit says {value['size']}")
            tree[path] = self.hub._entry(oid, size, lfs=True)
        elif key == "deletedFile":
            if path not in tree:
                raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            del tree[path]
        elif key == "deletedFolder":
            below = [p for p in tree if p.startswith(path + "/")]
            if not below:
                raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
            for p in below:
                del tree[p]
        else:
            raise HubError(400, f"unknown commit operation {key!r}")

    def create_tag(self, repo_type: str, repo_id: str, revision: str) -> None:
        payload = self._json_body()
        tag = payload.get("tag", "")
        if not _REF_NAME.fullmatch(tag):
            raise HubError(400, f"invalid tag name {tag!r}")

        def action():
            repo = self._repo(repo_type, repo_id)
            oid = repo.resolve(revision)
            if tag in repo.state["tags"]:
                raise HubError(409, f"Tag {tag} already exists")
            repo.state["tags"][tag] = oid
            repo.save()

        self._guarded("tag", action)
        self._json({"success": True})

    def delete_tag(self, repo_type: str, repo_id: str, tag: str) -> None:
        def action():
            repo = self._repo(repo_type, repo_id)
            if repo.state["tags"].pop(tag, None) is None:
                raise HubError(404, f"Tag {tag} not found", "RevisionNotFound")
            repo.save()

        self._guarded("delete_tag", action)
        self._json({"success": True})

    def create_branch(self, repo_type: str, repo_id: str, branch: str) -> None:
        payload = self._json_body()
        if not _REF_NAME.fullmatch(branch) or branch.startswith("refs"):
            raise HubError(400, f"invalid branch name {branch!r}")

        def action():
            repo = self._repo(repo_type, repo_id)
            exists = branch in repo.state["branches"]
            if exists and not payload.get("overwrite"):
                raise HubError(409, f"Branch {branch} already exists")
            if payload.get("emptyBranch"):
                target = self.hub._new_commit(repo, None, {}, "empty branch", "")
            elif payload.get("startingPoint") or not exists:
                target = repo.resolve(payload.get("startingPoint") or "main")
            else:
                return  # overwrite with nothing to point to: a no-op, as on the Hub
            repo.state["branches"][branch] = target
            repo.save()

        self._guarded("branch", action)
        self._json({"success": True})

    def delete_branch(self, repo_type: str, repo_id: str, branch: str) -> None:
        def action():
            repo = self._repo(repo_type, repo_id)
            if branch == "main":
                raise HubError(403, "The default branch cannot be deleted")
            if repo.state["branches"].pop(branch, None) is None:
                raise HubError(404, f"Branch {branch} not found", "RevisionNotFound")
            repo.save()

        self._guarded("delete_branch", action)
        self._json({"success": True})

    def resolve(self, repo_type: str, repo_id: str, revision: str, path: str, method: str) -> None:
        def action():
            repo = self._repo(repo_type, repo_id)
            head = repo.resolve(revision)
            entry = repo.tree(head).get(path)
            if entry is None:
                raise HubError(404, f"Entry not found: {path} at {revision}", "EntryNotFound")
            return head, entry

        head, entry = self._guarded("resolve", action)
        etag = entry["sha256"] if entry["lfs"] else entry["oid"]
        size = entry["size"]
        headers = {"X-Repo-Commit": head, "ETag": f'"{etag}"', "Accept-Ranges": "bytes",
                   "Content-Disposition": f"inline; filename*=UTF-8''{quote(path.rsplit('/', 1)[-1])}"}
        if entry["lfs"]:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": size})
        start, end, status = 0, size - 1, 200
        byte_range = self.headers.get("Range")
        if byte_range:
            start, end = _parse_range(byte_range, size)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = max(0, end - start + 1)
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        for key, value in headers.items():
            self.send_header(key, str(value))
        self.end_headers()
        if method == "HEAD":
            return
        with open(self.hub._blob_path(entry["sha256"]), "rb") as fh:
            fh.seek(start)
            remaining = length
            while remaining > 0:
                chunk = fh.read(min(CHUNK, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)


def _parse_range(header: str, size: int) -> tuple[int, int]:
    """A single ``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` range -> inclusive (start, end)."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header)
    if not match or match.groups() == ("", ""):
        raise HubError(416, f"unsupported Range header {header!r}")
    first, last = match.groups()
    if first == "":
        start, end = max(0, size - int(last)), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise HubError(416, f"range {header!r} is outside the {size} bytes of the file")
    return start, end


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a local Hugging Face Hub compatible server.")
    parser.add_argument("--root", required=True, help="folder that holds the repos and blobs")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    hub = LocalHub(args.root, host=args.host, port=args.port)
    print(f"HF_ENDPOINT={hub.endpoint} HF_HUB_DISABLE_XET=1", flush=True)
    try:
        hub.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        hub.httpd.server_close()


if __name__ == "__main__":
    main()
