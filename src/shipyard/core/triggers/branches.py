"""Branch rules: which environment a pushed branch deploys to (``triggers.branches``).

Called by ``engine/triggers/pushes.py`` and the manifest's checks. A rule is a branch name
or a glob (``release/*``); an exact name wins over a glob, then globs in their written order.
A branch no rule names deploys nowhere: its push is built and tested only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fnmatch import fnmatchcase

# what a branch or commit may be before it reaches a git command line (never an option: no
# leading dash); git refuses the other malformed names itself
BRANCH = re.compile(r"^[A-Za-z0-9_/+][A-Za-z0-9._/+-]{0,199}$")
SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
ZERO = re.compile(r"^0+$")


def deploy_target(rules: Mapping[str, str], branch: str) -> str | None:
    """The environment ``branch`` deploys to, or None when no rule names it."""
    if branch in rules:
        return rules[branch]
    return next((env for pattern, env in rules.items() if fnmatchcase(branch, pattern)), None)


def branch_of(ref: str) -> str | None:
    """``refs/heads/main`` -> ``main``; None for a tag or anything else."""
    branch = ref.removeprefix("refs/heads/")
    return branch if branch != ref and BRANCH.match(branch) else None
