"""Crisisline's benchmark suite (issue #6): ``python -m bench.run [--only NAME ...] [--quick]``.

Each benchmark runs the system and a baseline on the same machine in the same run and
reports the ratio, because absolute times drift on a shared machine. ``harness`` holds the
statistics, the result record and the writers; ``environment`` the fresh PostgreSQL schema,
the application, the servers and the processes every benchmark stands on; one module per
benchmark does the rest. ``bench/README.md`` says how to run it and what was measured.
"""
