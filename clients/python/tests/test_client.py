"""The Python client against a running Baton (BATON_URL; test/e2e/clients.test.ts starts one and runs this).

BATON_FIXTURES names test/fixtures/services. Standard library only: python3 -m unittest discover -s tests
"""

import asyncio
import http.server
import json
import os
import threading
import time
import unittest

from baton_client import (
    AsyncBatonClient,
    BatonInvalidRequestError,
    BatonNotFoundError,
    BatonSyncClient,
    BatonUnavailableError,
    DeploymentFailedError,
    MCPManagerClient,
)

URL = os.environ.get("BATON_URL", "http://127.0.0.1:8080")
FIXTURES = os.environ.get("BATON_FIXTURES", "")


class AgainstTheStack(unittest.TestCase):
    def test_async_deploy_from_config_and_wait_with_progress(self):
        async def scenario():
            seen = []
            async with MCPManagerClient(URL) as client:
                result = await client.deploy_from_config(agent_id="py-config", config_data={"greeting": "hi"}, description="Py agent")
                self.assertEqual(result.status, "queued")
                final = await client.wait_for_deployment(result.deployment_id, progress_callback=lambda job: seen.append(job.progress))
                logs = await client.get_deployment_logs(result.deployment_id)
            return final, seen, logs

        final, seen, logs = asyncio.run(scenario())
        self.assertEqual(final.status, "completed", final.get("error_message"))
        self.assertTrue(final.service_url.startswith("http://127.0.0.1:"))
        self.assertGreater(len(seen), 1)
        self.assertEqual(seen, sorted(seen))
        self.assertEqual(seen[-1], 100)
        self.assertIn("[promoting]", logs)

    def test_sync_deploy_twice_then_rollback_returns_the_first_revision(self):
        with BatonSyncClient(URL) as client:
            source = {"type": "directory", "path": os.path.join(FIXTURES, "healthy")}
            first = client.deploy_and_wait("py-sync", source=source)
            second = client.deploy_and_wait("py-sync", source=source, env={"APP_VERSION": "2"})
            self.assertNotEqual(first.revision, second.revision)
            rollback = client.rollback(second.deployment_id, "python test")
            done = client.wait_for_deployment(rollback.rollback_id)
            self.assertEqual((done.kind, done.status), ("rollback", "rolled_back"))
            self.assertEqual(client.get_service("py-sync").serving_revision, first.revision)

    def test_a_failure_is_explained(self):
        async def scenario():
            client = AsyncBatonClient(URL)
            result = await client.deploy("py-crash", source={"type": "directory", "path": os.path.join(FIXTURES, "crash")})
            with self.assertRaises(DeploymentFailedError) as caught:
                await client.wait_for_deployment(result.deployment_id)
            again = await client.wait_for_deployment(result.deployment_id, raise_on_failure=False)
            return caught.exception, again

        err, again = asyncio.run(scenario())
        self.assertEqual(err.job.status, "failed")
        self.assertIn("exited with code 3", err.job.error_message)
        self.assertEqual(again.failure.reason_code, "crashed_at_startup")

    def test_refusals_are_typed(self):
        with BatonSyncClient(URL) as client:
            with self.assertRaises(BatonNotFoundError):
                client.get_deployment_status("no-such-deployment")
            with self.assertRaises(BatonInvalidRequestError) as caught:
                client.deploy("NOT VALID")
            self.assertEqual(caught.exception.field, "agent_id")
            self.assertEqual(caught.exception.status, 400)


class Retries(unittest.TestCase):
    """A 503 is retried after its Retry-After; retries exhausted raise BatonUnavailableError."""

    def serve(self, answers):
        seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(time.monotonic())
                status, headers = answers.pop(0) if answers else (200, {})
                body = json.dumps({"deployment_id": "d1", "status": "queued"} if status == 200 else {"error": {"code": "unavailable", "message": "later"}}).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.shutdown)
        return f"http://127.0.0.1:{server.server_address[1]}", seen

    def test_waits_the_retry_after_of_a_503(self):
        url, seen = self.serve([(503, {"retry-after": "1"})])
        with BatonSyncClient(url) as client:
            job = client.get_deployment_status("d1")
        self.assertEqual(job.deployment_id, "d1")
        self.assertEqual(len(seen), 2)
        self.assertGreaterEqual(seen[1] - seen[0], 0.95)

    def test_gives_up_after_its_retries(self):
        url, seen = self.serve([(503, {}), (503, {}), (503, {})])
        with BatonSyncClient(url, retries=2, backoff=0.01) as client, self.assertRaises(BatonUnavailableError):
            client.get_deployment_status("d1")
        self.assertEqual(len(seen), 3)


if __name__ == "__main__":
    unittest.main()
