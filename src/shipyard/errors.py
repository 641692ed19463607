"""Shipyard's one exception tree.

Every error a user can cause or must act on is a ``ShipyardError`` carrying a
message (what is wrong, and where) and a hint (how to fix it). The CLI prints
``Error: <message>`` then ``Try: <hint>``; the API answers with the JSON shape
``{"ok": false, "error": ..., "hint": ..., "status": ..., "kind": ...}``. Third-party
exceptions are mapped to these at the driver boundary and never leak.

    ShipyardError
    ├── ManifestError          shipyard.yaml is missing or invalid (status 422)
    ├── QueryError             a search's filter is malformed (a time, a level) (422)
    ├── InputError             a request's value breaks a naming rule (a user name, a role) (422)
    ├── StateError             the state store is unusable or a record is missing (404/500)
    │   └── NotFoundError      a named release/deployment/environment does not exist (404)
    ├── LockHeldError          another deployment holds the environment's lock (409)
    ├── ConflictError          the request does not fit the current state (409)
    ├── AuthError              missing or wrong API token, unknown user or role (401)
    ├── TooLargeError          a request's body is larger than its route accepts (413)
    ├── ForbiddenError         the user's roles do not allow the action (403)
    ├── BuildError             source snapshot or dependency install failed (422)
    ├── ProxyError             HAProxy is missing, failed to start or refused a command (503)
    ├── InstanceError          an app instance could not start or stay up (422)
    ├── DeployError            a deployment step failed; the serving version kept serving (422)
    ├── VaultError             a secret, the master key or an imported secrets file is unusable (422)
    ├── BackupError            a backup, its key, its storage or a restore failed or was refused (422)
    │   └── DatabaseError      a managed PostgreSQL or one of its programs failed or is missing (422)
    ├── CertificateError       an ACME server is down, refused an order or rate-limits it (502)
    └── ServerUnavailable      the CLI cannot reach the control plane (503)
"""

from __future__ import annotations


class ShipyardError(Exception):
    """Base of every error Shipyard reports to a user."""

    status = 500

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_json(self) -> dict[str, object]:
        return {
            "ok": False,
            "error": self.message,
            "hint": self.hint,
            "status": self.status,
            "kind": type(self).__name__,
        }


class ManifestError(ShipyardError):
    status = 422


class QueryError(ShipyardError):
    status = 422


class InputError(ShipyardError):
    status = 422


class StateError(ShipyardError):
    status = 500


class NotFoundError(StateError):
    status = 404


class LockHeldError(ShipyardError):
    status = 409


class ConflictError(ShipyardError):
    status = 409


class AuthError(ShipyardError):
    status = 401


class TooLargeError(ShipyardError):
    status = 413


class ForbiddenError(ShipyardError):
    status = 403


class BuildError(ShipyardError):
    status = 422


class ProxyError(ShipyardError):
    status = 503


class InstanceError(ShipyardError):
    status = 422


class DeployError(ShipyardError):
    status = 422


class VaultError(ShipyardError):
    status = 422


class BackupError(ShipyardError):
    status = 422


class DatabaseError(BackupError):
    status = 422


class CertificateError(ShipyardError):
    status = 502


class ServerUnavailable(ShipyardError):
    status = 503


ERRORS_BY_NAME: dict[str, type[ShipyardError]] = {
    cls.__name__: cls
    for cls in (
        ShipyardError,
        ManifestError,
        QueryError,
        InputError,
        StateError,
        NotFoundError,
        LockHeldError,
        ConflictError,
        AuthError,
        TooLargeError,
        ForbiddenError,
        BuildError,
        ProxyError,
        CertificateError,
        InstanceError,
        DeployError,
        VaultError,
        BackupError,
        DatabaseError,
        ServerUnavailable,
    )
}
