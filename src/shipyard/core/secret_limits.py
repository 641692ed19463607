"""How big the vault's secrets may be, so an instance's environment can always be handed over.

Every live secret of an environment becomes a ``NAME=value`` string in each instance's
environment. Linux refuses an ``execve`` whose single string passes ``MAX_ARG_STRLEN``
(128 KiB) or whose arguments and environment together pass ``ARG_MAX`` (a quarter of the
stack limit, often 2 MiB) with "Argument list too long": the deploy fails and, worse, a killed
instance cannot be restarted. The limits below keep one environment's secrets far under both,
leaving room for the configuration and Shipyard's own variables. The vault service
(``engine/trust/vault.py``) checks them on ``secrets set`` and ``secrets import`` alike; the CLI
checks an import file's size before reading it.
"""

from __future__ import annotations

from collections.abc import Mapping

from shipyard.errors import VaultError

KIB = 1024
MAX_VALUE = 64 * KIB  # bytes of one value (UTF-8)
MAX_NAME = 128  # characters of a name (core.vault.NAME allows no more)
MAX_SECRETS = 200  # live secrets per environment
MAX_TOTAL = 512 * KIB  # bytes of every NAME=value string of one environment together
MAX_IMPORT_FILE = 1024 * KIB  # bytes of a file given to `secrets import`


def entry_size(name: str, value: str) -> int:
    """Bytes of ``NAME=value`` plus its NUL, as the kernel counts an environment string."""
    return len(name.encode()) + 1 + len(value.encode()) + 1


def check_secret(env: str, name: str, value: str) -> None:
    """One secret: its name and value within their limits."""
    if len(name) > MAX_NAME:
        raise VaultError(
            f"secret name {name[:40]!r}... in {env!r} has {len(name)} characters; the limit is {MAX_NAME}",
            "use a shorter name",
        )
    size = len(value.encode())
    if size > MAX_VALUE:
        raise VaultError(
            f"secret {name!r} in {env!r} is {_size(size)}; a secret's value may be at most "
            f"{_size(MAX_VALUE)}",
            "keep large material (certificate bundles, files) out of the vault: store a file in the "
            "app's data folder and put its path, or a key that opens it, in the secret",
        )


def check_environment(env: str, others: int, others_size: int, written: Mapping[str, str]) -> None:
    """The environment after a write: ``others`` live secrets besides those ``written`` (new or
    replaced) hold ``others_size`` bytes of environment strings together (``entry_size``)."""
    for name, value in written.items():
        check_secret(env, name, value)
    count = others + len(written)
    if count > MAX_SECRETS:
        raise VaultError(
            f"{env!r} would hold {count} secrets; the limit is {MAX_SECRETS} per environment "
            f"(the write of {_names(written)} was refused)",
            "delete and purge secrets the app no longer reads, or group related values",
        )
    total = others_size + sum(entry_size(name, value) for name, value in written.items())
    if total > MAX_TOTAL:
        raise VaultError(
            f"the secrets of {env!r} would take {_size(total)} together; the limit is {_size(MAX_TOTAL)} "
            f"per environment, so that every instance's environment fits the kernel's limits "
            f"(the write of {_names(written)} was refused)",
            "make large secrets smaller (store files in the app's data folder), or delete unused ones",
        )


def check_import_file(source: str, size: int) -> None:
    """An import file, by its size, before it is read."""
    if size > MAX_IMPORT_FILE:
        raise VaultError(
            f"{source} is {_size(size)}; a file given to `secrets import` may be at most "
            f"{_size(MAX_IMPORT_FILE)}",
            "split it, or keep large material out of the vault "
            f"(one value may be at most {_size(MAX_VALUE)})",
        )


def _names(written: Mapping[str, str]) -> str:
    names = sorted(written)
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _size(size: int) -> str:
    if size >= KIB * KIB:
        return f"{size / KIB / KIB:.1f} MiB"
    return f"{size / KIB:.1f} KiB" if size % KIB else f"{size // KIB} KiB"
