"""A small JSON-over-HTTP client for the control APIs (capture agent, simulators)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


class ControlError(RuntimeError):
    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(frozen=True)
class JsonClient:
    name: str
    base_url: str
    timeout: float = 15.0

    def request(
        self, method: str, path: str, body: Any = None, timeout: float | None = None
    ) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = raw.decode(errors="replace")
            message = payload.get("error", payload) if isinstance(payload, dict) else payload
            raise ControlError(
                f"{self.name} {method} {path}: HTTP {exc.code}: {message}", exc.code, payload
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ControlError(
                f"{self.name} does not answer at {self.base_url} ({exc}): is the topology up? "
                "(`harness topology status`)"
            ) from None
        return json.loads(raw) if raw else None
