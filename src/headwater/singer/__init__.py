"""`target-headwater`, a Singer target: see `headwater.singer.target`."""

from __future__ import annotations
