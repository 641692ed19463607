"""API routes of triggers: a push to the hosted repository, and the git hosts' push events.

``POST /api/triggers/push`` is what the hosted repository's ``post-receive`` hook calls (with
the token of ``<home>``): it needs ``deploy`` on the environment the branch deploys to (else
on the pipeline's), is audited as ``trigger.push``, and answers ``202`` with the job that
fetches, builds, tests and deploys the commit; the hook follows the job's progress.

``POST /api/hooks/{provider}`` (github, gitlab, gitea) takes no token: the gate lets it
through because the event's signature authenticates it (``core/triggers/hooks.py``, with the
vault secret ``triggers.webhook.secret``). A missing signature is refused 401, a wrong one
403, both audited as a denied ``trigger.webhook``; a signed push is audited and started as a
job, a signed ping or tag is answered and ignored. Registered by ``server/api.py``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from starlette.concurrency import run_in_threadpool

from shipyard.core.jobs import Progress
from shipyard.core.triggers.hooks import PROVIDERS, Push, check_signature, read_push
from shipyard.engine.engine import Engine
from shipyard.errors import AuthError, ForbiddenError, ShipyardError
from shipyard.schemas.data import Job, JobStarted
from shipyard.schemas.triggers import HookAnswer, PushBody
from shipyard.server.auth import Who, act, client_source

Provider = Annotated[str, Path(pattern=f"^({'|'.join(PROVIDERS)})$", description="the git host")]


def register_trigger_routes(app: FastAPI, engine: Engine) -> None:
    triggers, jobs = engine.triggers, engine.jobs

    def start(push: Push, repository: str, env: str, by: str, on_failure: Any) -> Job:
        def run(progress: Progress) -> dict[str, Any]:
            return triggers.run(push, repository, by, engine.deploy, progress)

        job = jobs.submit("trigger.push", env, vars(push), by, run, on_failure)
        return Job.model_validate(job.to_json())

    @app.post("/api/triggers/push", status_code=202, response_model=JobStarted)
    def pushed(body: PushBody, request: Request, who: Who) -> JobStarted:
        env, source = triggers.env_of(body.branch), client_source(request)

        def submit() -> Job:
            triggers.spec()  # no triggers: refused after the decision, with the fix
            repository = str(triggers.hosted())
            push = Push(body.branch, body.sha, repository, "")

            def failed(exc: ShipyardError) -> None:
                engine.access.failed(who, "trigger.push", env, exc, source, f"{body.branch}@{body.sha}")

            return start(push, repository, env, who.user, failed)

        job = act(request, who, "deploy", "trigger.push", env, f"{body.branch}@{body.sha}", submit)
        return JobStarted(job=job)

    @app.post("/api/hooks/{provider}", status_code=202)
    async def hook(provider: Provider, request: Request) -> HookAnswer:
        body = await request.body()  # the gate held it to its limit
        headers = {k.lower(): v for k, v in request.headers.items()}
        return await run_in_threadpool(received, provider, body, headers, client_source(request))

    def received(provider: str, body: bytes, headers: dict[str, str], source: str) -> HookAnswer:
        actor = f"webhook:{provider}"
        env, secret = triggers.webhook_secret(provider)
        verdict = check_signature(provider, secret, body, headers)
        if verdict != "ok":
            triggers.audit(actor, env, "", source, "denied", f"{verdict} signature")
            raise (AuthError if verdict == "missing" else ForbiddenError)(
                f"the {provider} event's signature is {verdict}",
                "set the webhook's secret on the git host to the vault's triggers.webhook.secret",
            )
        push = read_push(provider, body, headers)
        if isinstance(push, str):
            return HookAnswer(ignored=push)
        repository = triggers.repository(push)
        target, where = triggers.env_of(push.branch), f"{push.branch}@{push.sha}"
        triggers.audit(actor, target, where, source, "ok", push.message)

        def failed(exc: ShipyardError) -> None:
            triggers.audit(actor, target, where, source, "error", exc.message)

        return HookAnswer(job=start(push, repository, target, actor, failed))
