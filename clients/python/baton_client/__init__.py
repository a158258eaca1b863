"""Baton's Python client (standard library only): seed 000's MCPManagerClient, for Baton's API.

    async with AsyncBatonClient("http://127.0.0.1:8080") as client:
        result = await client.deploy_from_config(agent_id="my-agent", config_data=config)
        final = await client.wait_for_deployment(result.deployment_id,
                                                 progress_callback=lambda job: print(job.progress))

BatonSyncClient offers the same methods without await.
"""

from .client import (
    AsyncBatonClient,
    BatonConflictError,
    BatonConnectionError,
    BatonError,
    BatonInvalidRequestError,
    BatonNotFoundError,
    BatonSyncClient,
    BatonTimeoutError,
    BatonTooLargeError,
    BatonUnavailableError,
    DeploymentFailedError,
    Record,
)

# Seed 000's names.
MCPManagerClient = AsyncBatonClient
MCPManagerSyncClient = BatonSyncClient

__all__ = [
    "AsyncBatonClient",
    "BatonSyncClient",
    "MCPManagerClient",
    "MCPManagerSyncClient",
    "Record",
    "BatonError",
    "BatonInvalidRequestError",
    "BatonNotFoundError",
    "BatonConflictError",
    "BatonTooLargeError",
    "BatonUnavailableError",
    "BatonConnectionError",
    "BatonTimeoutError",
    "DeploymentFailedError",
]
