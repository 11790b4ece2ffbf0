"""A requests transport that answers from recorded API responses, so a client library's own parsing runs offline.

Mount it on the ``requests.Session`` a library uses (ccxt's ``exchange.session``, or a session
handed to yfinance); every request is matched to a route by a fragment of its URL path and kept
for the test to inspect.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

RECORDED_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "recorded"
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests", 503: "Service Unavailable"}


def recorded(name: str) -> Any:
    """Return the parsed JSON of the recorded response ``name``."""
    return json.loads((RECORDED_DIR / name).read_text())


@dataclass(frozen=True)
class Reply:
    """One HTTP answer: a status and a JSON (or text) body."""

    status: int
    body: Any

    @classmethod
    def ok(cls, body: Any) -> Reply:
        return cls(200, body)


@dataclass(frozen=True)
class Call:
    """One request the transport answered."""

    method: str
    host: str
    path: str
    params: dict[str, str]


Answer = Reply | BaseException
Responder = Callable[[Call], Answer]


class RecordedServer(BaseAdapter):
    """Routes requests to responders by URL path fragment; unknown paths get a 404."""

    def __init__(self) -> None:
        super().__init__()
        self.routes: list[tuple[str, Responder]] = []
        self.calls: list[Call] = []

    def route(self, fragment: str, responder: Responder | Answer) -> None:
        """Answer requests whose host and path contain ``fragment`` (later routes win)."""
        handler: Responder = responder if callable(responder) else (lambda call, fixed=responder: fixed)
        self.routes.insert(0, (fragment, handler))

    def route_sequence(self, fragment: str, answers: list[Answer]) -> None:
        """Answer successive requests with ``answers`` in turn; the last one repeats."""
        pending = list(answers)

        def next_answer(call: Call) -> Answer:
            return pending.pop(0) if len(pending) > 1 else pending[0]

        self.route(fragment, next_answer)

    def calls_to(self, fragment: str) -> list[Call]:
        return [call for call in self.calls if fragment in call.host + call.path]

    def mount_on(self, session: requests.Session) -> requests.Session:
        session.mount("https://", self)
        session.mount("http://", self)
        return session

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        call = Call(
            method=request.method or "GET", host=parts.netloc, path=parts.path, params=dict(parse_qsl(parts.query))
        )
        self.calls.append(call)
        answer = next((handler(call) for fragment, handler in self.routes if fragment in call.host + call.path), None)
        if answer is None:
            answer = Reply(404, {"error": f"nothing recorded for {call.path}"})
        if isinstance(answer, BaseException):
            raise answer
        return _response(request, answer)

    def close(self) -> None:
        """Nothing to release."""


def _response(request: requests.PreparedRequest, reply: Reply) -> requests.Response:
    response = requests.Response()
    response.status_code = reply.status
    response.reason = REASONS.get(reply.status, "")
    text = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
    response._content = text.encode()
    kind = "text/plain" if isinstance(reply.body, str) else "application/json;charset=UTF-8"
    response.headers = CaseInsensitiveDict({"Content-Type": kind})
    response.encoding = "utf-8"
    response.url = request.url or ""
    response.request = request
    return response
