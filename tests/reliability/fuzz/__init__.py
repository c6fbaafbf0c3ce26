"""Coverage-guided fuzzing (atheris) of the body parsers, the API's GET routes and the receiver.

test_fuzz.py runs each target briefly in CI; run.py runs them for longer. docs/reliability.md
("Fuzzing") says what each target feeds and asserts.
"""
