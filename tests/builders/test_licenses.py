"""Source licences and the release-licence check."""

from __future__ import annotations

import pytest

from builders.licenses import SOURCE_LICENSES, LicenseError, check_release_license, compatible, source_license, suggest_license

ALL_SEVEN = {fmt: source_license(fmt) for fmt in SOURCE_LICENSES}


def test_recorded_licences():
    assert ALL_SEVEN == {"xlam": "cc-by-4.0", "apigen_mt": "cc-by-nc-4.0", "glaive": "apache-2.0",
                         "toolace": "apache-2.0", "when2call": "cc-by-4.0", "button": "cc-by-4.0", "taubench": "mit"}


def test_noncommercial_source_refuses_a_commercial_release():
    with pytest.raises(LicenseError) as info:
        check_release_license("cc-by-4.0", ALL_SEVEN)
    err = info.value
    assert err.item == "source 'apigen_mt' (cc-by-nc-4.0)"
    assert err.problem == "cannot be included in a cc-by-4.0 release"
    assert "release under cc-by-nc-4.0 or leave the source out" == err.fix


def test_compatible_releases():
    check_release_license("cc-by-nc-4.0", ALL_SEVEN)
    without_nc = {k: v for k, v in ALL_SEVEN.items() if k != "apigen_mt"}
    check_release_license("cc-by-4.0", without_nc)
    check_release_license("apache-2.0", without_nc)
    assert suggest_license(ALL_SEVEN.values()) == "cc-by-nc-4.0"
    assert suggest_license(without_nc.values()) == "cc-by-4.0"


@pytest.mark.parametrize("release, source, ok", [
    ("cc-by-sa-4.0", "cc-by-sa-4.0", True), ("cc-by-4.0", "cc-by-sa-4.0", False),
    ("cc-by-nc-4.0", "cc-by-nd-4.0", False), ("mit", "apache-2.0", True), ("cc-by-nc-sa-4.0", "cc-by-nc-4.0", True),
])
def test_rules(release, source, ok):
    assert compatible(release, source) is ok


def test_unknown_licences_and_sources():
    with pytest.raises(LicenseError, match="release licence 'wtfpl': licence 'wtfpl' is not one this check knows"):
        check_release_license("wtfpl", {})
    with pytest.raises(LicenseError, match="source 'x': licence 'other'"):
        check_release_license("mit", {"x": "other"})
    with pytest.raises(LicenseError, match="source format 'sharegpt': has no recorded licence"):
        source_license("sharegpt")
