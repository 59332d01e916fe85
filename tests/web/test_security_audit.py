"""The dependency set is audited (issue 6): scripts/audit-deps.

Here, the parts that need no network: the installed set is consistent (`pip check`) and is
exactly what pyproject.toml pins. The known-vulnerability audit (pip-audit against PyPI's
advisory data, --strict) needs https://pypi.org and runs from .ci/run.
"""

from __future__ import annotations

import subprocess
import sys

from tests.reliability_helpers import ROOT, record


def test_the_installed_dependencies_are_consistent_and_exactly_as_pinned():
    result = subprocess.run(
        [str(ROOT / "scripts" / "audit-deps"), "--offline"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No broken requirements found." in result.stdout
    assert "installed exactly as pinned" in result.stdout
    record(
        "Dependencies consistent and as pinned",
        "pip check; every pyproject.toml pin installed at exactly that version (pip-audit's "
        "vulnerability check runs in .ci/run, where PyPI is reachable)",
        output=result.stdout.strip().splitlines()[-2],
    )
