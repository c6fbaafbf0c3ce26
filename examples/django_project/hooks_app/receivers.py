"""The application's side: one receiver per signal, each printing the event it gets.

A real app would store the event here, keyed by `dedupe_key` (SocketLabs retries), or
queue it. Raising makes mailhooks answer a 503, so SocketLabs posts the event again.
"""

from typing import Any

from django.dispatch import receiver

from mailhooks.integrations.django import mailhooks_event


@receiver(mailhooks_event)
def print_event(sender: Any, event: Any, dedupe_key: bytes, endpoint: str, **kwargs: Any) -> None:
    print(
        f"mailhooks_event: {event.kind} {event.address} message={event.message_id}"
        f" endpoint={endpoint} key={dedupe_key.hex()}",
        flush=True,
    )


try:
    from anymail.signals import tracking
except ImportError:  # django-anymail is optional
    pass
else:

    @receiver(tracking)
    def print_tracking(sender: Any, event: Any, esp_name: str, **kwargs: Any) -> None:
        print(
            f"anymail tracking: {esp_name} {event.event_type} {event.recipient}"
            f" reject_reason={event.reject_reason}",
            flush=True,
        )
