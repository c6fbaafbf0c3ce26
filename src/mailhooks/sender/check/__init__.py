"""`mailhooks check`: SocketLabs' endpoint validation and more, one verdict per check.

`run.py` posts and collects, `judge.py` says what each answer means (pure), `net.py`
looks at DNS, TCP and TLS, `report.py` renders the verdicts, `types.py` holds the shapes.
"""
