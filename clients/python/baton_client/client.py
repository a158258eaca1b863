"""The HTTP transport (urllib, run in a worker thread), the async client and its sync wrapper."""

from __future__ import annotations

import asyncio
import email.utils
import inspect
import json
import os
import random
import time
import urllib.error
import urllib.request
import uuid
from typing import Any, Awaitable, Callable, Optional, Union

DEFAULT_URL = "http://127.0.0.1:8080"
FINAL_STATUSES = ("completed", "failed", "rolled_back", "cancelled")


class Record(dict):
    """An API answer: a dict whose keys also read as attributes (job.progress, result.deployment_id)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _record(value: Any) -> Any:
    if isinstance(value, dict):
        return Record({k: _record(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_record(v) for v in value]
    return value


class BatonError(Exception):
    """The API refused a request: HTTP status, the API's error code and the field at fault."""

    def __init__(self, status: int, code: str, message: str, field: Optional[str] = None):
        super().__init__(f"{message}{f' (field: {field})' if field else ''} [HTTP {status} {code}]")
        self.status = status
        self.code = code
        self.field = field
        self.server_message = message


class BatonInvalidRequestError(BatonError):
    """400: fix the field it names."""


class BatonNotFoundError(BatonError):
    """404: no such deployment or service."""


class BatonConflictError(BatonError):
    """409: refused in the current state (a deployment of the agent runs, nothing to roll back to)."""


class BatonTooLargeError(BatonError):
    """413: over the server's size limit."""


class BatonUnavailableError(BatonError):
    """429/503: try again later (the client already retried)."""


_BY_CODE = {
    "invalid": BatonInvalidRequestError,
    "not_found": BatonNotFoundError,
    "conflict": BatonConflictError,
    "too_large": BatonTooLargeError,
    "unavailable": BatonUnavailableError,
    "rate_limited": BatonUnavailableError,
}


class BatonConnectionError(Exception):
    """Nothing answered at the control plane's URL."""


class BatonTimeoutError(Exception):
    """wait_for_deployment gave up; the deployment keeps running on the server."""

    def __init__(self, message: str, last_job: Optional[Record]):
        super().__init__(message)
        self.last_job = last_job


class DeploymentFailedError(Exception):
    """The deployment ended failed, rolled back or cancelled; `job` says why (error_message, failure)."""

    def __init__(self, job: Record):
        reason = job.get("error_message") or job.get("current_step") or job["status"]
        super().__init__(f"deployment {job['deployment_id']} ended {job['status']}: {reason}")
        self.job = job


def _retry_after_seconds(header: Optional[str]) -> Optional[float]:
    if header is None:
        return None
    value = header.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(0.0, seconds), 300.0)


class _Transport:
    """Blocking JSON over HTTP with retries on 429/503 (Retry-After, else exponential back-off with jitter)."""

    def __init__(self, base_url: str, token: Optional[str], timeout: float, retries: int, backoff: float):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    def request(self, method: str, path: str, body: Optional[bytes] = None, content_type: Optional[str] = None) -> Any:
        url = self.base_url + path
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(url, data=body, method=method, headers={"accept": "application/json"})
            if content_type:
                req.add_header("content-type", content_type)
            if self.token:
                req.add_header("authorization", f"Bearer {self.token}")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as res:
                    text = res.read().decode("utf-8")
                    return json.loads(text) if text else None
            except urllib.error.HTTPError as err:
                text = err.read().decode("utf-8", "replace")
                error = self._error(err.code, text)
                if err.code not in (429, 503) or attempt >= self.retries:
                    raise error from None
                wait = _retry_after_seconds(err.headers.get("retry-after"))
                if wait is None:
                    step = self.backoff * 2**attempt
                    wait = step / 4 + random.random() * step * 3 / 4
                time.sleep(wait)
            except urllib.error.URLError as err:
                raise BatonConnectionError(
                    f"the Baton control plane is not reachable at {self.base_url} ({err.reason}): "
                    "start it with `npm start`, or set BATON_URL"
                ) from None
        raise AssertionError("unreachable")

    @staticmethod
    def _error(status: int, text: str) -> BatonError:
        try:
            e = json.loads(text)["error"]
            code, message, field = str(e["code"]), str(e["message"]), e.get("field")
        except (ValueError, KeyError, TypeError):
            code, message, field = "http_error", f"the server answered HTTP {status}: {text[:200]}", None
        cls = _BY_CODE.get(code) or (BatonUnavailableError if status in (429, 503) else BatonError)
        return cls(status, code, message, field)


def _multipart(fields: dict, files: dict) -> tuple:
    boundary = f"baton-{uuid.uuid4().hex}"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\ncontent-disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data, ctype) in files.items():
        head = f'--{boundary}\r\ncontent-disposition: form-data; name="{name}"; filename="{filename}"\r\ncontent-type: {ctype}\r\n\r\n'
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


ProgressCallback = Callable[[Record], Union[None, Awaitable[None]]]


class AsyncBatonClient:
    """The async client: each request runs in a worker thread, so it never blocks the event loop."""

    def __init__(
        self,
        base_url: Optional[str] = None,
        token: Optional[str] = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.25,
    ):
        self._t = _Transport(
            base_url or os.environ.get("BATON_URL") or DEFAULT_URL,
            token if token is not None else os.environ.get("BATON_TOKEN"),
            timeout,
            retries,
            backoff,
        )

    @property
    def base_url(self) -> str:
        return self._t.base_url

    async def __aenter__(self) -> "AsyncBatonClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        return None

    async def _call(self, method: str, path: str, body: Optional[bytes] = None, content_type: Optional[str] = None) -> Any:
        return _record(await asyncio.to_thread(self._t.request, method, path, body, content_type))

    async def _json(self, method: str, path: str, payload: Any) -> Any:
        return await self._call(method, path, json.dumps(payload).encode(), "application/json")

    async def deploy(self, agent_id: str, **request: Any) -> Record:
        """POST /deploy: any field of Baton's request (source, env, environment, deployment_options …)."""
        return await self._json("POST", "/deploy", {"agent_id": agent_id, **request})

    async def deploy_from_config(
        self,
        agent_id: str,
        config_data: dict,
        description: Optional[str] = None,
        environment: Optional[str] = None,
        version: Optional[str] = None,
        source_archive: Optional[str] = None,
    ) -> Record:
        """POST /deploy-from-file: the config as a JSON file and, optionally, a .tar.gz/.tgz/.zip source."""
        config = dict(config_data)
        if description is not None:
            config.setdefault("description", description)
        fields = {"agent_id": agent_id}
        if environment:
            fields["environment"] = environment
        if version:
            fields["version"] = version
        files = {"config_file": ("config.json", json.dumps(config).encode(), "application/json")}
        if source_archive:
            with open(source_archive, "rb") as f:
                files["source"] = (os.path.basename(source_archive), f.read(), "application/octet-stream")
        body, ctype = _multipart(fields, files)
        return await self._call("POST", "/deploy-from-file", body, ctype)

    async def get_deployment_status(self, deployment_id: str) -> Record:
        return await self._call("GET", f"/deployments/{_q(deployment_id)}")

    async def list_deployments(self, **query: Any) -> Record:
        qs = "&".join(f"{k}={_q(str(v))}" for k, v in query.items() if v is not None)
        return await self._call("GET", f"/deployments{'?' + qs if qs else ''}")

    async def get_deployment_logs(self, deployment_id: str) -> str:
        return (await self._call("GET", f"/deployments/{_q(deployment_id)}/logs"))["logs"]

    async def wait_for_deployment(
        self,
        deployment_id: str,
        progress_callback: Optional[ProgressCallback] = None,
        timeout: float = 1800.0,
        poll_interval: float = 0.5,
        raise_on_failure: bool = True,
    ) -> Record:
        """Polls until a final status; calls progress_callback (plain or async) on every change.

        Returns the final job; unless raise_on_failure=False, a deployment that ends failed, rolled_back
        or cancelled (a rollback job: failed) raises DeploymentFailedError carrying it.
        """
        deadline = time.monotonic() + timeout
        last: Optional[Record] = None
        while True:
            job = await self.get_deployment_status(deployment_id)
            if job != last and progress_callback is not None:
                outcome = progress_callback(job)
                if inspect.isawaitable(outcome):
                    await outcome
            last = job
            if job["status"] in FINAL_STATUSES:
                # A rollback job succeeds by ending rolled_back.
                succeeded = job["status"] == "completed" or (job.get("kind") == "rollback" and job["status"] == "rolled_back")
                if raise_on_failure and not succeeded:
                    raise DeploymentFailedError(job)
                return job
            if time.monotonic() >= deadline:
                raise BatonTimeoutError(
                    f"timed out after {timeout:g}s waiting for {deployment_id} (last seen {job['status']} at "
                    f"{job.get('progress', 0)}%); it keeps running on the server",
                    job,
                )
            await asyncio.sleep(poll_interval)

    async def deploy_and_wait(
        self,
        agent_id: str,
        config_data: Optional[dict] = None,
        progress_callback: Optional[ProgressCallback] = None,
        timeout: float = 1800.0,
        **request: Any,
    ) -> Record:
        """deploy_from_config (with config_data) or deploy (with request fields), then wait_for_deployment."""
        if config_data is not None:
            result = await self.deploy_from_config(agent_id, config_data, **request)
        else:
            result = await self.deploy(agent_id, **request)
        return await self.wait_for_deployment(result["deployment_id"], progress_callback=progress_callback, timeout=timeout)

    async def rollback(self, deployment_id: str, reason: str = "manual rollback") -> Record:
        """POST /rollback: traffic returns to the revision that served before this (completed) deployment."""
        return await self._json("POST", "/rollback", {"deployment_id": deployment_id, "rollback_reason": reason})

    async def cancel(self, deployment_id: str) -> Record:
        return await self._json("POST", f"/deployments/{_q(deployment_id)}/cancel", {})

    async def get_service(self, agent_id: str) -> Record:
        return await self._call("GET", f"/services/{_q(agent_id)}")


def _q(value: str) -> str:
    return urllib.request.quote(value, safe="")


class BatonSyncClient:
    """The same methods without await: each runs the async client's on a private event loop."""

    def __init__(self, base_url: Optional[str] = None, **options: Any):
        self._async = AsyncBatonClient(base_url, **options)
        self._loop = asyncio.new_event_loop()

    def close(self) -> None:
        self._loop.close()

    def __enter__(self) -> "BatonSyncClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._async, name)
        if not inspect.iscoroutinefunction(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run_until_complete(method(*args, **kwargs))

        call.__name__ = name
        call.__doc__ = method.__doc__
        return call
