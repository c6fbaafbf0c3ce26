"""Django for the test process: configured once (settings can be configured only once per
process), with `hooks/` included as an application would. Tests change the mailhooks
settings with `override_settings`, which the integration notices (`setting_changed`).

DATA_UPLOAD_MAX_MEMORY_SIZE is set far under the endpoints' `body_max_bytes`, so a test
shows that the view's own cap applies, not Django's.
"""

from __future__ import annotations

import django
from django.conf import settings
from django.urls import include, path

#: Django's own cap on `request.body`, which the view must not be bound by.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024


def configure() -> None:
    """Configure Django for these tests, once per process."""
    if settings.configured:
        return
    settings.configure(
        SECRET_KEY="tests-only-not-a-secret",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=[],
        DATABASES={},
        MIDDLEWARE=[
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
        ],
        DATA_UPLOAD_MAX_MEMORY_SIZE=DATA_UPLOAD_MAX_MEMORY_SIZE,
        USE_TZ=True,
        LOGGING_CONFIG=None,
    )
    django.setup()


urlpatterns = [path("hooks/", include("mailhooks.integrations.django"))]
