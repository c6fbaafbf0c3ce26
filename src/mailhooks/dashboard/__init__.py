"""The web dashboard under /ui: overview, events, messages and addresses, behind API tokens."""

from mailhooks.dashboard.app import create_dashboard

__all__ = ["create_dashboard"]
