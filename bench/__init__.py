"""The ingestion benchmark: `python -m bench` (see bench/README.md)."""

from __future__ import annotations
