from __future__ import annotations

from headwater.cli import main

main()
