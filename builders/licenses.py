"""Licences of the open-source sources, and whether a release licence may include them.

Each source's licence was read from its dataset card or repository (see ``SOURCE_LICENSES``). The
compatibility rule is the plain reading of the licences, kept deliberately strict: a non-commercial
source (APIGen-MT-5k) can only go into a non-commercial release, a share-alike source only into
the same share-alike licence, no-derivatives sources into nothing, and permissive sources (MIT,
Apache-2.0, CC-BY, CC0) into any known licence, with their attribution listed in the card.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from builders.errors import ConfigError


class LicenseError(ConfigError):
    """A release whose licence cannot include one of its sources; names the source, the clash and the fix."""


@dataclass(frozen=True)
class License:
    spdx: str
    noncommercial: bool = False
    sharealike: bool = False
    noderivatives: bool = False


LICENSES = {lic.spdx: lic for lic in [
    License("mit"), License("apache-2.0"), License("bsd-3-clause"), License("cc0-1.0"), License("odc-by"),
    License("cc-by-4.0"), License("cc-by-sa-4.0", sharealike=True),
    License("cc-by-nc-4.0", noncommercial=True), License("cc-by-nc-sa-4.0", noncommercial=True, sharealike=True),
    License("cc-by-nd-4.0", noderivatives=True), License("cc-by-nc-nd-4.0", noncommercial=True, noderivatives=True),
]}

# source format -> (licence, where it was read)
SOURCE_LICENSES: dict[str, tuple[str, str]] = {
    "xlam": ("cc-by-4.0", "huggingface.co/datasets/Salesforce/xlam-function-calling-60k card"),
    "apigen_mt": ("cc-by-nc-4.0", "huggingface.co/datasets/Salesforce/APIGen-MT-5k card (license: cc-by-nc-4.0)"),
    "glaive": ("apache-2.0", "huggingface.co/datasets/glaiveai/glaive-function-calling-v2 card"),
    "toolace": ("apache-2.0", "huggingface.co/datasets/Team-ACE/ToolACE card"),
    "when2call": ("cc-by-4.0", "huggingface.co/datasets/nvidia/When2Call card (code on GitHub is Apache-2.0)"),
    "button": ("cc-by-4.0", "github.com/PKU-Baichuan-MLSystemLab/BUTTON LICENSE (CC BY 4.0)"),
    "taubench": ("mit", "github.com/sierra-research/tau-bench LICENSE (MIT)"),
}


def source_license(fmt: str) -> str:
    try:
        return SOURCE_LICENSES[fmt][0]
    except KeyError:
        raise LicenseError(f"source format {fmt!r}", "has no recorded licence",
                           "give the source's 'license' in the preset") from None


def _known(spdx: str, item: str) -> License:
    lic = LICENSES.get(spdx.lower())
    if lic is None:
        raise LicenseError(item, f"licence {spdx!r} is not one this check knows",
                           f"use one of {', '.join(sorted(LICENSES))} or add it to builders/licenses.py")
    return lic


def compatible(release: str, source: str) -> bool:
    rel, src = _known(release, "release"), _known(source, "source")
    if src.noderivatives:
        return False
    if src.sharealike:
        return rel.spdx == src.spdx
    if src.noncommercial and not rel.noncommercial:
        return False
    return True


def check_release_license(release: str, sources: Mapping[str, str]) -> None:
    """Refuse a release licence that some included source does not allow, naming that source."""
    _known(release, f"release licence {release!r}")
    for name, spdx in sorted(sources.items()):
        _known(spdx, f"source {name!r}")
        if not compatible(release, spdx):
            raise LicenseError(f"source {name!r} ({spdx})", f"cannot be included in a {release} release",
                               f"release under {suggest_license(sources.values())} or leave the source out")


def suggest_license(licenses) -> str:
    """The least restrictive licence every given source allows, or 'none' when they clash."""
    for candidate in ("cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0"):
        if all(LICENSES.get(s.lower()) and compatible(candidate, s) for s in licenses):
            return candidate
    return "none: these sources cannot be released together"
