"""The submission under test, and Hypothesis's profiles.

``AUTOGRADE_STUDENT`` picks the submission: a module of this folder (``student_correct``,
the default, or ``student_buggy``) or the path of any ``.py`` file.

Installing qgen installs its pytest plugin, which registers the ``dev``, ``ci`` and
``thorough`` profiles and loads the one ``HYPOTHESIS_PROFILE`` (or
``--hypothesis-profile``) names. Where it is not active (``-p no:qgen``, an install
older than the plugin), this conftest does the same, so the example runs either way.
"""

import importlib.util
import os
from pathlib import Path

import pytest

from verify import pytest_plugin

HERE = Path(__file__).resolve().parent
STUDENT_ENV = "AUTOGRADE_STUDENT"
DEFAULT_STUDENT = "student_correct"


def _student_path() -> Path:
    name = os.environ.get(STUDENT_ENV) or DEFAULT_STUDENT
    path = Path(name) if name.endswith(".py") else HERE / f"{name}.py"
    if not path.is_file():
        raise pytest.UsageError(f"{STUDENT_ENV}={name!r} must name a module of {HERE} "
                                "(student_correct, student_buggy) or a .py file")
    return path


def pytest_configure(config):
    if not config.pluginmanager.is_registered(pytest_plugin):
        pytest_plugin.pytest_configure(config)
    config.student_path = _student_path()


def pytest_report_header(config):
    return f"student under test: {config.student_path}"


@pytest.fixture(scope="session")
def student(pytestconfig):
    """The submission, imported from its file (it need not be on sys.path)."""
    path = pytestconfig.student_path
    spec = importlib.util.spec_from_file_location("submission", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
