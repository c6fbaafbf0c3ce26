from django.apps import AppConfig


class HooksAppConfig(AppConfig):
    name = "hooks_app"

    def ready(self) -> None:
        from hooks_app import receivers  # noqa: F401  (connects the signal receivers)
