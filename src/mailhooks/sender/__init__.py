"""Sender-side tools: the event tester, the endpoint validator and the emulator."""
