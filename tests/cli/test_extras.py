"""Without the server extra (`pip install mailhooks` alone) the command says what to install.

The CI step .ci/core_install_check.sh checks the same in a real core-only install; here the
missing packages are made unimportable with `None` in `sys.modules`.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from mailhooks.cli.extras import POSTGRES_EXTRA, SERVER_EXTRA, SERVER_MODULES

#: Runs the `mailhooks` console script's own target with some modules made unimportable.
_PROBE = """
import sys
from importlib.metadata import entry_points
for name in sys.argv[1].split(","):
    sys.modules[name] = None
(script,) = entry_points(group="console_scripts", name="mailhooks")
sys.argv = ["mailhooks", *sys.argv[2:]]
script.load()()
"""


def _mailhooks_without(
    modules: list[str], *args: str, cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _PROBE, ",".join(modules), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


def test_without_typer_the_command_names_the_server_extra(tmp_path: Path) -> None:
    done = _mailhooks_without(["typer"], "--help", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == f"error: {SERVER_EXTRA}\n"
    assert done.stdout == ""
    assert SERVER_EXTRA == (
        "mailhooks serve and the CLI need the server extra: pip install 'mailhooks[server]'"
    )


def test_a_module_missing_when_a_command_runs_names_its_extra(tmp_path: Path) -> None:
    url = "postgresql://mailhooks@127.0.0.1:1/none"
    done = _mailhooks_without(
        ["psycopg"], "suppress", "check", "a@example.com", "--database-url", url, cwd=tmp_path
    )
    assert done.returncode == 1
    assert done.stderr == f"error: {POSTGRES_EXTRA}\n"


def test_another_missing_module_is_not_blamed_on_an_extra(tmp_path: Path) -> None:
    done = _mailhooks_without(["orjson"], "--help", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "extra" not in done.stderr


def test_every_package_of_the_server_extra_is_known_by_a_module() -> None:
    server = {
        canonicalize_name(requirement.name)
        for requirement in map(Requirement, metadata.requires("mailhooks") or [])
        if requirement.marker is not None and requirement.marker.evaluate({"extra": "server"})
    }
    assert "typer" in server
    modules_of: dict[str, set[str]] = {}
    for module, distributions in metadata.packages_distributions().items():
        for distribution in distributions:
            modules_of.setdefault(canonicalize_name(distribution), set()).add(module)
    unknown = sorted(name for name in server if not modules_of.get(name, set()) & SERVER_MODULES)
    assert unknown == []
