"""pytest plugin: the Hypothesis profiles ``dev``, ``ci`` and ``thorough`` for any project
that installs qgen (registered as the ``pytest11`` entry point ``qgen``).

* ``dev`` (the default): 30 examples, no deadline: fast while writing code.
* ``ci``: 60 examples, derandomized (the same examples on every run, so a red build is
  reproducible), no deadline (shared runners are slow), failing examples printed as
  blobs to replay, and the too_slow health check off.
* ``thorough``: 1000 examples, for a night run.

Choose one with ``--hypothesis-profile=NAME`` or ``HYPOTHESIS_PROFILE=NAME``; without
either, ``dev`` is loaded, unless a profile is loaded already: one the project's
conftest.py chose, or ``ci``, which Hypothesis itself loads on a CI service (and which
then is this ``ci``). A profile of the same name that the project registered (in a
conftest.py) is kept; only Hypothesis's own ``ci`` is replaced. Disable the plugin with
``-p no:qgen``.
"""

from __future__ import annotations

import os

import hypothesis._settings
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.errors import InvalidArgument

__all__ = ["DEFAULT_PROFILE", "PROFILES", "pytest_configure", "register_profiles"]

PROFILES: dict[str, dict] = {
    "dev": {"max_examples": 30, "deadline": None},
    "ci": {"max_examples": 60, "derandomize": True, "deadline": None, "print_blob": True,
           "suppress_health_check": [HealthCheck.too_slow]},
    "thorough": {"max_examples": 1000, "deadline": None, "print_blob": True},
}
DEFAULT_PROFILE = "dev"
ENV_VARIABLE = "HYPOTHESIS_PROFILE"
# What Hypothesis has loaded when nobody has chosen a profile.
_HYPOTHESIS_DEFAULT = "default"
# Hypothesis (>= 6.1xx) registers a "ci" profile of its own: ours replaces that one only.
_HYPOTHESIS_OWN = {"ci": getattr(hypothesis._settings, "CI", None)}


def _registered(name: str) -> bool:
    try:
        settings.get_profile(name)
    except InvalidArgument:
        return False
    return True


def _ours_to_register(name: str) -> bool:
    if not _registered(name):
        return True
    own = _HYPOTHESIS_OWN.get(name)
    return own is not None and settings.get_profile(name) is own


def register_profiles() -> list[str]:
    """Register each of PROFILES that no one but Hypothesis itself has registered;
    returns the names it registered. A profile registered while loaded takes effect
    at once (Hypothesis reloads it), so Hypothesis's own ci, loaded on a CI service,
    becomes this one."""
    added = [name for name in PROFILES if _ours_to_register(name)]
    for name in added:
        settings.register_profile(name, **PROFILES[name])
    return added


def _current_profile() -> str | None:
    current = getattr(settings, "get_current_profile_name", None)  # Hypothesis >= 6.126
    return current() if current else getattr(settings, "_current_profile", None)


def _requested(config: pytest.Config) -> tuple[str, str] | None:
    """(name, where it came from) of the profile asked for, if any."""
    option = config.getoption("hypothesis_profile", default=None)
    if option:
        return option, "--hypothesis-profile"
    env = os.environ.get(ENV_VARIABLE)
    if env:
        return env, ENV_VARIABLE
    return None


# tryfirst: the profiles exist before Hypothesis's own plugin loads --hypothesis-profile.
@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    register_profiles()
    requested = _requested(config)
    if requested is None:
        if _current_profile() not in (None, _HYPOTHESIS_DEFAULT):
            return  # chosen already: by the project's conftest.py, or ci on a CI service
        requested = (DEFAULT_PROFILE, "the default")
    name, source = requested
    try:
        settings.load_profile(name)
    except InvalidArgument:
        raise pytest.UsageError(
            f"{source}={name!r} is not a registered Hypothesis profile "
            f"(qgen registers {', '.join(PROFILES)})") from None
