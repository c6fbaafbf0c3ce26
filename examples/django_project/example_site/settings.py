"""A minimal Django project receiving SocketLabs events with mailhooks.

The secret and ServerId come from the environment, so the same project serves a real
SocketLabs webhook: MAILHOOKS_EXAMPLE_SECRET, MAILHOOKS_EXAMPLE_SERVER_ID.
"""

import importlib.util
import os

SECRET_KEY = "example-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "example_site.urls"
INSTALLED_APPS = ["hooks_app"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",  # the mailhooks view is exempt
]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

# One SocketLabs endpoint: POST /hooks/default
MAILHOOKS_ENDPOINTS = {
    "default": {
        "secrets": [os.environ.get("MAILHOOKS_EXAMPLE_SECRET", "example-secret-key")],
        "server_id": int(os.environ.get("MAILHOOKS_EXAMPLE_SERVER_ID", "12345")),
        "wire_format": "json",
        "endpoint_id": 1,
    }
}
# Also send django-anymail's `tracking` signal, when django-anymail is installed.
MAILHOOKS_ANYMAIL = importlib.util.find_spec("anymail") is not None
# MAILHOOKS_STORE = "sqlite:///mailhooks.db"  # keep every event in a mailhooks store too
