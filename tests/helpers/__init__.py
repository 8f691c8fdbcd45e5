"""Helpers shared by the test modules (``pythonpath = ["tests"]`` in pyproject.toml makes this
package importable as ``helpers``; the test modules themselves are imported with
``--import-mode=importlib``, so they need no unique names and cannot import each other)."""
