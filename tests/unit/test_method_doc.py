"""docs/METHOD.md describes the benchmark's profiles as benchmarks/suite/profiles.py defines them
(the one source): a change to a profile that the method does not follow fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks.suite.profiles import PROFILES

METHOD = Path(__file__).resolve().parents[2] / "docs" / "METHOD.md"


def profiles_paragraph() -> str:
    text = " ".join(METHOD.read_text().split())
    found = re.search(r"- \*\*Profiles\*\* \(`benchmarks/suite/profiles.py`.*?(?= - \*\*|\Z)", text)
    assert found, "docs/METHOD.md has no Profiles paragraph in its Load section"
    return found.group(0)


@pytest.mark.parametrize("name", ["quick", "full"])
def test_the_method_states_each_profile_as_defined(name: str) -> None:
    profile = PROFILES[name]
    said = re.search(rf"`{name}` \((.*?)\)(?: and|\.)", profiles_paragraph())
    assert said, f"the method does not describe the {name} profile"
    text = said.group(1)
    assert f"{profile.warmup_s:g} s + {profile.duration_s:g} s per run" in text
    assert f"{profile.repetitions} repetitions" in text
    assert f"a capacity grid of {profile.grid_points} rates" in text
    scenarios = "all four scenarios" if len(profile.scenarios) == 4 else None
    assert scenarios in text if scenarios else all(f"`{s}`" in text for s in profile.scenarios)
