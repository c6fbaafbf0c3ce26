"""The query API under /api/v1 (FastAPI), OpenAPI at /api/openapi.json, behind bearer tokens."""

from mailhooks.api.app import create_api

__all__ = ["create_api"]
