"""Delivers rendered notifications to receivers (SMTP, Slack, Teams, PagerDuty, webhooks).

The engine's notification service calls ``Dispatcher.send``, which returns at once: the
delivery runs on a small pool of worker threads, so a slow or dead receiver never blocks the
control plane. Each delivery is tried up to ``len(backoff) + 1`` times, with the backoff's
delays between attempts, and its outcome (delivered or failed, attempts, why) goes to the
caller's ``on_result``, which stores it where ``shipyard alerts list`` shows it.

Secrets are read from the control plane's environment at send time (``*_env`` keys) and
never appear in an outcome: receivers are named, their URLs are not.
"""

from __future__ import annotations

import os
import queue
import smtplib
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx

from shipyard.core.messages import Message
from shipyard.drivers.loops import Stopping, Task, Worker
from shipyard.manifest.alerts import EmailReceiver, PagerDutyReceiver, Receiver, UrlReceiver

BACKOFF = (1.0, 2.0, 4.0, 8.0)


class DeliveryError(Exception):
    """One attempt failed; the text is safe to show (no secret in it)."""


@dataclass(frozen=True)
class Outcome:
    receiver: str
    kind: str  # the receiver's kind: email, slack, ...
    message: Message
    ok: bool
    attempts: int
    detail: str
    at: float


Report = Callable[[Outcome], None]


class Dispatcher:
    def __init__(self, backoff: tuple[float, ...] = BACKOFF, timeout: float = 5.0, workers: int = 4) -> None:
        self.backoff = backoff
        self.timeout = timeout
        self._queue: queue.Queue[tuple[str, Receiver, Message, Report] | None] = queue.Queue()
        # daemon threads: a receiver that is down never holds up the control plane's exit
        self._workers = [self._worker(f"notify-{i}") for i in range(workers)]
        for worker in self._workers:
            worker.start()

    def _worker(self, name: str) -> Worker:
        worker = Worker(name, lambda stopping: self._work(worker, stopping))
        return worker

    def loops(self) -> list[Task]:
        return list(self._workers)

    def send(self, name: str, receiver: Receiver, message: Message, on_result: Report) -> None:
        """Queue one delivery and return at once."""
        self._queue.put((name, receiver, message, on_result))

    def close(self) -> None:
        """Stop retrying; deliveries still queued are dropped (the control plane is stopping)."""
        for worker in self._workers:
            worker.request_stop()
            self._queue.put(None)

    def _work(self, worker: Worker, stopping: Stopping) -> None:
        while (job := self._queue.get()) is not None and not stopping.is_set():
            try:
                self._deliver(*job, stopping)
            except Exception as exc:  # an outcome that cannot be stored: say so, keep working
                print(f"notification to {job[0]}: its outcome was lost: {exc!r}", file=sys.stderr, flush=True)
                worker.failed(exc, f"notification to {job[0]}: its outcome was lost: ")
            else:
                worker.succeeded()

    def _deliver(
        self, name: str, receiver: Receiver, message: Message, on_result: Report, stopping: Stopping
    ) -> None:
        problem, attempt = "", 0
        for attempt, delay in enumerate((0.0, *self.backoff), start=1):
            if stopping.wait(delay):
                return
            try:
                detail = self.deliver_once(receiver, message)
            except DeliveryError as exc:
                problem = str(exc)
                continue
            except Exception as exc:  # a bug must still be reported, not kill the worker
                problem = f"internal error: {type(exc).__name__}"
                continue
            on_result(Outcome(name, receiver.kind, message, True, attempt, detail, time.time()))
            return
        on_result(Outcome(name, receiver.kind, message, False, attempt, problem, time.time()))

    def deliver_once(self, receiver: Receiver, message: Message) -> str:
        """One attempt; returns what the receiver answered, raises DeliveryError."""
        if receiver.email is not None:
            return send_email(receiver.email, message, self.timeout)
        if receiver.pagerduty is not None:
            return self._pagerduty(receiver.pagerduty, message)
        if receiver.slack is not None:
            return self._post(receiver.slack, {"text": f"*{message.title}*\n{message.text}"})
        if receiver.teams is not None:
            return self._post(receiver.teams, teams_card(message))
        assert receiver.webhook is not None
        return self._post(receiver.webhook, message.webhook)

    def _post(self, target: UrlReceiver, body: dict[str, Any]) -> str:
        url = target.url or _secret(target.url_env)
        return _post(url, body, self.timeout)

    def _pagerduty(self, target: PagerDutyReceiver, message: Message) -> str:
        if not message.pagerduty:
            return "nothing to page"
        key = _secret(target.routing_key_env)
        answers = [
            _post(target.url, {**event, "routing_key": key}, self.timeout) for event in message.pagerduty
        ]
        return "; ".join(answers)


def _secret(variable: str | None) -> str:
    value = os.environ.get(variable or "", "")
    if not value:
        raise DeliveryError(f"environment variable {variable} is not set in the control plane")
    return value


def _post(url: str, body: dict[str, Any], timeout: float) -> str:
    try:
        resp = httpx.post(url, json=body, timeout=timeout, trust_env=False)
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {str(exc).replace(url, '<url>')}") from None
    if resp.status_code >= 300:
        raise DeliveryError(f"answered HTTP {resp.status_code}")
    return f"answered HTTP {resp.status_code}"


def teams_card(message: Message) -> dict[str, Any]:
    """An Adaptive Card in the message shape Teams' incoming webhooks (workflows) take."""
    colour = {"critical": "Attention", "warning": "Warning"}.get(message.severity, "Good")
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": message.title, "weight": "Bolder", "wrap": True, "color": colour}
    ]
    body += [{"type": "TextBlock", "text": line, "wrap": True} for line in message.lines]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def send_email(target: EmailReceiver, message: Message, timeout: float) -> str:
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = target.sender
    mail["To"] = ", ".join(target.to)
    mail["X-Shipyard-Kind"] = message.kind
    mail.set_content(message.text + "\n")
    context = ssl.create_default_context(cafile=target.ca_file)
    try:
        smtp: smtplib.SMTP
        if target.tls == "tls":
            smtp = smtplib.SMTP_SSL(target.host, target.port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(target.host, target.port, timeout=timeout)
        with smtp:
            if target.tls == "starttls":
                smtp.starttls(context=context)
            if target.username:
                smtp.login(target.username, _secret(target.password_env))
            refused = smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP {target.host}:{target.port}: {type(exc).__name__}: {exc}") from None
    if refused:
        return f"sent; refused by the server for {', '.join(refused)}"
    return f"sent to {len(target.to)} recipient(s) via {target.host}:{target.port}"
