"""Optional sampling profiles of the server and worker during one phase (py-spy).

`uv run --with py-spy python -m bench --profile first` records both processes for
`--profile-seconds` from the start of the phase (`py-spy record --nonblocking`, so the
processes are not paused while sampled) as collapsed stacks, and prints the functions
with the most samples: "self" (the sampled line itself) and "inclusive" (anywhere on the
stack). `python -m bench.profile FILE` summarises such a file again.
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
from pathlib import Path

#: frames that are on every stack (entry points, event loop, thread pools)
_PLUMBING = re.compile(
    r"^(_run_module_as_main|_run_code|<module>|Context\.invoke|Group\.invoke|Command\.|"
    r"Thread\._bootstrap|WorkerThread\.run|run \(uvicorn|Server\.run|Runner\.run|"
    r"asyncio_run|serve \(headwater|worker \(headwater|Worker\.run \()"
)


def start(pid: int, out: Path, seconds: float) -> subprocess.Popen[bytes]:
    binary = shutil.which("py-spy")
    if binary is None:
        raise SystemExit("--profile needs py-spy: run `uv run --with py-spy python -m bench ...`")
    return subprocess.Popen(
        [binary, "record", "--format", "raw", "--nonblocking", "--pid", str(pid),
         "--duration", str(int(seconds)), "--rate", "100", "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def summarise(path: Path, top: int = 15) -> str:
    """Top functions by self and by inclusive samples, as text."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        own[_function(frames[-1])] += samples
        for frame in {_function(f) for f in frames}:
            inclusive[frame] += samples
    if not total:
        return f"{path}: no samples"
    lines = [f"{path.name}: {total} samples", "  self:"]
    lines += [f"    {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines.append("  inclusive:")
    shown = [(name, n) for name, n in inclusive.most_common() if not _PLUMBING.match(name)]
    lines += [f"    {100 * n / total:5.1f}%  {name}" for name, n in shown[:top]]
    return "\n".join(lines)


def _function(frame: str) -> str:
    """`func (file.py:123)` -> `func (file.py)`: lines of one function counted together."""
    return re.sub(r":\d+\)$", ")", frame)


if __name__ == "__main__":
    for argument in sys.argv[1:]:
        print(summarise(Path(argument), 25))
