"""The CLI decodes answers with shipyard.schemas, but loads them only in the commands that use
them: importing the CLI loads no API model (another part of the CLI's start-up time)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_cli_loads_no_api_model() -> None:
    code = "import sys, shipyard.cli.main; print([m for m in sys.modules if 'schemas' in m])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
