"""Measured speed of the hub: a real server process on the embedded store, loaded by wrk on loopback.

Run `./scripts/bench` (or `.venv/bin/python -m bench --help`); the README shows its figures.
"""
