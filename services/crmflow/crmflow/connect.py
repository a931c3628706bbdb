"""The Kafka Connect REST client every crmflow tool shares: the connector supervisor, the
rules-api's pipeline status, ``crmflow connector ...`` (stack.sh status/unregister/recover) and
deploy/docker/register_connector.py. Thin: HTTP in, small typed values out; no retries of its own."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Self

import httpx

DEFAULT_TIMEOUT = 5.0
RUNNING = "RUNNING"
FAILED = "FAILED"
STOPPED = "STOPPED"


class ConnectError(Exception):
    """Connect unreachable, or it answered something this client cannot use."""


def first_line(trace: str | None) -> str | None:
    """The first line of a Java stack trace: the exception class and its message."""
    if not trace:
        return None
    return trace.strip().splitlines()[0].strip() or None


def root_cause(trace: str | None) -> str | None:
    """The innermost ``Caused by:`` of a Java stack trace (often the line that says why), else
    its first line."""
    if not trace:
        return None
    causes = [
        line.strip().removeprefix("Caused by:").strip()
        for line in trace.splitlines()
        if line.strip().startswith("Caused by:")
    ]
    return causes[-1] if causes else first_line(trace)


@dataclass(frozen=True)
class TaskStatus:
    id: int
    state: str
    worker_id: str | None = None
    trace: str | None = None


@dataclass(frozen=True)
class ConnectorStatus:
    name: str
    state: str
    tasks: tuple[TaskStatus, ...] = ()
    trace: str | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ConnectorStatus:
        connector = body.get("connector") or {}
        return cls(
            name=str(body.get("name", "")),
            state=str(connector.get("state", "UNKNOWN")),
            tasks=tuple(
                TaskStatus(
                    id=int(t.get("id", 0)),
                    state=str(t.get("state", "UNKNOWN")),
                    worker_id=t.get("worker_id"),
                    trace=t.get("trace"),
                )
                for t in body.get("tasks") or []
            ),
            trace=connector.get("trace"),
        )

    @property
    def failed(self) -> bool:
        """The connector or one of its tasks is FAILED (Connect will not restart it by itself)."""
        return self.state == FAILED or any(t.state == FAILED for t in self.tasks)

    @property
    def running(self) -> bool:
        """The connector and every task (at least one) RUNNING."""
        return self.state == RUNNING and bool(self.tasks) and all(t.state == RUNNING for t in self.tasks)

    @property
    def failure_trace(self) -> str | None:
        """The connector's trace if it FAILED, else the first FAILED task's."""
        if self.state == FAILED and self.trace:
            return self.trace
        return next((t.trace for t in self.tasks if t.state == FAILED and t.trace), None)

    @property
    def error(self) -> str | None:
        """First line of the failure's trace."""
        return first_line(self.failure_trace)

    @property
    def cause(self) -> str | None:
        """Innermost cause of the failure."""
        return root_cause(self.failure_trace)

    @property
    def traces(self) -> str:
        """Every trace the connector and its tasks carry, one after the other."""
        return "\n".join(t for t in [self.trace, *(task.trace for task in self.tasks)] if t)

    def summary(self) -> str:
        """``STATE TASK,STATES`` (``-`` without tasks), for shell scripts."""
        return f"{self.state} {','.join(t.state for t in self.tasks) or '-'}"


class ConnectClient:
    """One Connect worker's REST API (any worker of the group answers for all)."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ConnectError(f"{method} {self.url}{path}: {type(exc).__name__}: {exc}") from exc

    def _expect(self, response: httpx.Response, *ok: int) -> httpx.Response:
        if response.status_code not in ok:
            raise ConnectError(
                f"{response.request.method} {response.request.url.path} answered HTTP "
                f"{response.status_code}: {response.text[:500]}"
            )
        return response

    def alive(self) -> bool:
        try:
            return self._request("GET", "/").status_code == 200
        except ConnectError:
            return False

    def status(self, name: str) -> ConnectorStatus | None:
        """The connector's and its tasks' states; None when no such connector exists."""
        response = self._request("GET", f"/connectors/{name}/status")
        if response.status_code == 404:
            return None
        try:
            return ConnectorStatus.from_json(self._expect(response, 200).json())
        except ValueError as exc:
            raise ConnectError(f"status of {name}: not JSON") from exc

    def statuses(self) -> dict[str, ConnectorStatus]:
        """Every connector of the cluster, by name."""
        body = self._expect(self._request("GET", "/connectors", params={"expand": "status"}), 200).json()
        return {name: ConnectorStatus.from_json(info["status"]) for name, info in sorted(body.items())}

    def config(self, name: str) -> dict[str, str] | None:
        response = self._request("GET", f"/connectors/{name}/config")
        if response.status_code == 404:
            return None
        return dict(self._expect(response, 200).json())

    def put_config(self, name: str, config: dict[str, str]) -> int:
        """Create or update (idempotent); the HTTP status (201 created, 200 updated, 409 rebalancing,
        5xx worker starting) is for the caller to judge."""
        return self._request("PUT", f"/connectors/{name}/config", json=config).status_code

    def restart_failed(self, name: str) -> None:
        """Restart the connector's FAILED instance and FAILED tasks (KIP-745)."""
        self._expect(
            self._request(
                "POST", f"/connectors/{name}/restart", params={"includeTasks": "true", "onlyFailed": "true"}
            ),
            200,
            202,
            204,
        )

    def stop(self, name: str) -> bool:
        """Stop the connector (KIP-875: tasks shut down, config and offsets kept); False if absent."""
        response = self._request("PUT", f"/connectors/{name}/stop")
        if response.status_code == 404:
            return False
        self._expect(response, 200, 202, 204)
        return True

    def delete_offsets(self, name: str) -> None:
        """Delete a STOPPED connector's stored source offsets (KIP-875)."""
        self._expect(self._request("DELETE", f"/connectors/{name}/offsets"), 200, 204)

    def delete(self, name: str) -> bool:
        response = self._request("DELETE", f"/connectors/{name}")
        if response.status_code == 404:
            return False
        self._expect(response, 200, 204)
        return True

    def wait_state(self, name: str, state: str, timeout: float) -> ConnectorStatus:
        """Poll until the connector's own state is ``state``."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(name)
            if status is not None and status.state == state:
                return status
            if time.monotonic() > deadline:
                raise ConnectError(f"connector {name} not {state} after {timeout} s ({status})")
            time.sleep(0.2)

    def unregister(self, name: str, timeout: float = 30.0) -> bool:
        """Stop the connector, delete its stored offsets, delete it; False if it did not exist.

        Deleting a connector alone leaves its offsets in Connect's offsets topic: one re-created
        under the same name would resume from them (and fail if that WAL is gone)."""
        if not self.stop(name):
            return False
        self.wait_state(name, STOPPED, timeout)
        self.delete_offsets(name)
        self.delete(name)
        return True
