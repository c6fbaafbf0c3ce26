"""The interactive API docs: Swagger UI with every file it loads served by mailhooks itself.

FastAPI's own docs page loads Swagger UI from a CDN, so it is blank offline or behind a
firewall. This page loads the Swagger UI build that the pinned fastapi-swagger package ships.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

DOCS_PATH = "/docs"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
ASSETS_PATH = "/docs-assets"
SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
FAVICON = "favicon-32x32.png"


class SwaggerAssets(StaticFiles):
    """The package's Swagger UI files, and nothing else it holds (its `__init__.py`, say)."""

    served = frozenset({SWAGGER_JS, SWAGGER_CSS, FAVICON})

    def __init__(self) -> None:
        super().__init__(packages=[("fastapi_swagger", "resources")])

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path not in self.served:
            raise HTTPException(404)
        return await super().get_response(path, scope)


def add_docs(api: FastAPI) -> None:
    """/docs and its assets, outside the spec and without a token, as FastAPI's own were."""
    spec_path = api.openapi_url
    if spec_path is None:
        raise ValueError("the docs page needs the spec: openapi_url is None")
    api.mount(ASSETS_PATH, SwaggerAssets(), name="docs-assets")

    async def swagger_ui(request: Request) -> HTMLResponse:
        # Behind a mount (/api) or a proxy prefix, the page's URLs start with root_path.
        root = str(request.scope.get("root_path", "")).rstrip("/")
        assets = root + ASSETS_PATH
        return get_swagger_ui_html(
            openapi_url=root + spec_path,
            title=f"{api.title} - Swagger UI",
            swagger_js_url=f"{assets}/{SWAGGER_JS}",
            swagger_css_url=f"{assets}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{assets}/{FAVICON}",
            oauth2_redirect_url=root + OAUTH2_REDIRECT_PATH,
        )

    async def oauth2_redirect(_request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    api.add_route(DOCS_PATH, swagger_ui, include_in_schema=False)
    api.add_route(OAUTH2_REDIRECT_PATH, oauth2_redirect, include_in_schema=False)
