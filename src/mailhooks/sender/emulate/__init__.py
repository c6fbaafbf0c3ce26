"""`mailhooks emulate`: message lifecycles sent as SocketLabs would, with its retry rules.

`model.py` draws the lifecycles, `retry.py` holds the delivery rules, `delivery.py` sends
with them over `http.py`, `run.py` runs processes of it, `verify.py` checks the store
through the query API, `report.py` and `session.py` are the command around it.
"""
