"""Read and validate shipyard.yaml; turn every problem into one clear ManifestError.

Called by the control plane before each deployment and by ``shipyard validate``.
Messages name the file, the key path and the fix, and unknown keys get a
"did you mean" from the fields allowed at that place.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from shipyard.errors import ManifestError
from shipyard.manifest.models import Manifest
from shipyard.manifest.yamlread import read_yaml

FILENAME = "shipyard.yaml"


def load_manifest(path: Path) -> Manifest:
    """Load ``path`` (a shipyard.yaml) or raise ManifestError saying what to fix."""
    if not path.is_file():
        raise ManifestError(
            f"{path}: no such file",
            "run `shipyard init` in the app's folder, or pass --app-dir to the folder that holds it",
        )
    try:
        data = read_yaml(path.read_text(encoding="utf-8"), str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ManifestError(f"{where}: not valid YAML: {problem}", "fix the YAML syntax") from None
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not UTF-8 text", "save the file as UTF-8") from None
    return parse_manifest(data, str(path))


def parse_manifest(data: object, origin: str = FILENAME) -> Manifest:
    """Validate already-parsed YAML ``data``; ``origin`` names the file in messages."""
    if not isinstance(data, dict):
        raise ManifestError(
            f"{origin}: expected a mapping of keys (app, processes, environments...), "
            f"got {type(data).__name__}",
            "start from the file `shipyard init` writes",
        )
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(err) for err in exc.errors()]
        first_hint = problems[0][1]
        lines = "\n".join(f"  {where}: {what}" for where, what in ((p[0], p[2]) for p in problems))
        count = f"{len(problems)} problem" + ("s" if len(problems) > 1 else "")
        raise ManifestError(f"{origin}: {count}\n{lines}", first_hint) from None


def _describe(err: Any) -> tuple[str, str, str]:
    """Return (key path, hint, message) for one pydantic error."""
    loc = tuple(err["loc"])
    path = _path(loc) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _fields_at(Manifest, loc[:-1])
        guess = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        message = f"unknown key {loc[-1]!r}"
        if guess:
            message += f"; did you mean {guess[0]!r}?"
            return path, f"rename {loc[-1]!r} to {guess[0]!r}", message
        return path, f"remove it; allowed here: {', '.join(sorted(allowed))}", message
    if kind == "missing":
        return path, f"add `{loc[-1]}` (see docs/configuration.md)", "required key is missing"
    message = str(err["msg"]).removeprefix("Value error, ")
    hint = (err.get("ctx") or {}).get("hint") or "see docs/configuration.md for the allowed values"
    return path, str(hint), message


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic's marker: the error is about the mapping's key itself
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Names allowed at ``loc`` inside ``model`` (walking models, dicts and lists)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        else:
            args = [a for a in typing.get_args(current) if a is not Ellipsis]
            current = args[-1] if args else None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    """Strip Optional[...] to the model inside it."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        for arg in typing.get_args(tp):
            if arg is not type(None):
                return arg
    return tp
