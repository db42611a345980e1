"""`python -m bench` (or `scripts/bench`): the ingestion benchmark (method: bench/README.md).

Phases (each against a real `headwater serve` process, driven over HTTP from a separate
driver process; the normalizer is a separate `headwater worker` process unless
`--worker embedded|none`):

  first     first load of the data set into an empty store
  replay    the same bodies again (every record unchanged)
  replay10  the same bodies with 10 % of the records changed
  preload   `first` again, into a store already holding `--preload` records
  memory    a stream of ~10 MiB bodies (500 records of ~20 KB): peak RSS

`first`, `replay` and `replay10` are also run through the in-process limit pipeline
(bench/limit.py) on a separate fresh database of the same backend, and the service's
throughput is printed as a ratio of it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import data, driver, limit, profile, report
from bench.server import (
    Databases,
    Service,
    checkpoint,
    loadavg,
    machine,
    prepare,
    proc_status,
    remove_tree,
    reset_peak,
)

PHASES = ("first", "replay", "replay10", "preload", "memory")
ROOT = Path(__file__).resolve().parent.parent
#: where profiles (and other outputs worth keeping) go: ignored by git, never the root
RESULTS = ROOT / "bench" / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Headwater ingestion benchmark (method and figures: bench/README.md).",
    )
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server to benchmark on, e.g. postgresql://postgres@127.0.0.1:5432/postgres"
        " (fresh databases are created there and dropped at the end; the role needs CREATEDB)."
        " Default: SQLite files in a temporary directory.",
    )
    parser.add_argument("--records", type=int, default=100_000, help="first-load records")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--seed", type=int, default=20260610)
    parser.add_argument(
        "--preload",
        type=int,
        default=None,
        help="records stored before the `preload` phase (default 1,000,000; 0 skips it)",
    )
    parser.add_argument(
        "--memory-batches",
        type=int,
        default=None,
        help="~10 MiB bodies sent in the `memory` phase (default 20; 0 skips it)",
    )
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated subset of {', '.join(PHASES)}",
    )
    parser.add_argument(
        "--worker",
        choices=("process", "embedded", "none"),
        default="process",
        help="the normalizer: a separate `headwater worker` process (default, so both are "
        "measured), `embedded` in the API process (`serve`'s default), or `none` (ingest "
        "only: batches stay queued)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=900.0,
        help="seconds to wait for the normalization queue to drain after each phase's ingest",
    )
    parser.add_argument("--no-limit", action="store_true", help="skip the limit pipeline")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run of a few seconds: 10,000 records, no preload, 3 memory batches",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument(
        "--workdir", type=Path, help="where SQLite files, bodies and logs go (default: a temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases and workdir")
    parser.add_argument(
        "--profile",
        choices=PHASES,
        help="sample the server and worker with py-spy during this phase "
        "(run as `uv run --with py-spy python -m bench ...`)",
    )
    parser.add_argument("--profile-seconds", type=float, default=15.0)
    args = parser.parse_args(argv)
    if args.quick:
        args.records = min(args.records, 10_000)
    if args.preload is None:
        args.preload = 0 if args.quick else 1_000_000
    if args.memory_batches is None:
        args.memory_batches = 3 if args.quick else 20
    args.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    if args.preload <= 0 and "preload" in args.phases:
        args.phases.remove("preload")
    if args.memory_batches <= 0 and "memory" in args.phases:
        args.phases.remove("memory")
    return args


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.workdir = args.workdir or Path(tempfile.mkdtemp(prefix="headwater-bench-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.databases = Databases(args.database_url, self.workdir)
        self.results: dict[str, Any] = {
            "command": " ".join(["python -m bench", *sys.argv[1:]]),
            "machine": machine(),
            "backend": self.databases.backend,
            "clients": args.clients,
            "seed": args.seed,
            "workerMode": args.worker,
            "phases": {},
        }

    # -- one driver run ----------------------------------------------------------------

    def drive(self, service: Service, token: str, bodies: list[bytes], name: str) -> dict[str, Any]:
        bodies_path = self.workdir / f"{name}.bodies"
        driver.write_bodies(str(bodies_path), bodies)
        config = {
            "port": service.port,
            "token": token,
            "bodies": str(bodies_path),
            "clients": self.args.clients,
            "out": str(self.workdir / f"{name}.driver.json"),
            "drain": self.args.worker != "none",
            "drain_timeout": self.args.drain_timeout,
        }
        config_path = self.workdir / f"{name}.driver-config.json"
        pids = service.pids
        config["pids"] = pids
        config_path.write_text(json.dumps(config))
        profilers = {}
        if self.args.profile == name:
            profilers = {
                role: (out, profile.start(pid, out, self.args.profile_seconds))
                for role, pid in pids.items()
                for out in [self.workdir / f"profile-{name}-{role}.txt"]
            }
        peaks_reset = all(reset_peak(pid) for pid in pids.values())
        load_before = loadavg()
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        subprocess.run(
            [sys.executable, "-m", "bench.driver", str(config_path)], check=True, cwd=ROOT, env=env
        )
        status = {role: proc_status(pid) for role, pid in pids.items()}
        for role, (out, process) in profilers.items():
            process.wait()
            RESULTS.mkdir(parents=True, exist_ok=True)
            kept = RESULTS / out.name
            shutil.copyfile(out, kept)
            print(profile.summarise(kept), flush=True)
            log(f"{role} profile (collapsed stacks) in {kept}")
        run = json.loads(Path(config["out"]).read_text())
        bodies_path.unlink(missing_ok=True)
        figures = report.phase_figures(run)
        records = figures["records"] or 1
        server_status = status.get("server", {})
        worker_status = status.get("worker", {})
        return {
            "figures": figures,
            "rss": {
                "serverPeak": server_status.get("VmHWM"),
                "serverEnd": server_status.get("VmRSS"),
                "workerPeak": worker_status.get("VmHWM"),
                "workerEnd": worker_status.get("VmRSS"),
                "peakIsPerPhase": peaks_reset,
            },
            "cpu": {
                #: while the clients sent (server µs/record is over this window)
                "serverSeconds": round(run["cpuIngest"].get("server", 0.0), 2),
                "workerSeconds": round(run["cpuIngest"]["worker"], 2)
                if "worker" in run["cpuIngest"]
                else None,
                #: from the first request until the queue drained
                "serverSecondsToDrained": round(run["cpuDrained"].get("server", 0.0), 2),
                "workerSecondsToDrained": round(run["cpuDrained"]["worker"], 2)
                if "worker" in run["cpuDrained"]
                else None,
                "driverSeconds": figures["driverCpuSeconds"],
                "serverMicrosPerRecord": round(
                    run["cpuIngest"].get("server", 0.0) / records * 1e6, 1
                ),
                "workerMicrosPerNormalizedRecord": round(
                    run["cpuDrained"]["worker"] / figures["normalization"]["records"] * 1e6, 1
                )
                if "worker" in run["cpuDrained"] and figures["normalization"]["records"]
                else None,
            },
            "loadAverage": {"before": load_before, "after": loadavg()},
        }

    # -- phases ------------------------------------------------------------------------

    def limit_runs(self, dataset: data.Dataset) -> dict[str, dict[str, Any]]:
        url = self.databases.new("limit")
        store, tenant = prepare(url, with_source=True)
        assert tenant.source_id is not None
        out = {}
        try:
            for name, bodies in (
                ("first", dataset.first),
                ("replay", dataset.first),
                ("replay10", dataset.replay10),
            ):
                if name not in self.args.phases:
                    continue
                result = limit.run(store, tenant.org_id, tenant.source_id, bodies, name)
                out[name] = result.as_json()
                log(f"limit {name}: {result.records_per_second:,.0f} records/s")
        finally:
            store.close()
        return out

    def service_runs(self, dataset: data.Dataset) -> None:
        wanted = [p for p in ("first", "replay", "replay10") if p in self.args.phases]
        if not wanted:
            return
        url = self.databases.new("service")
        store, tenant = prepare(url, with_source=False)
        store.close()
        service = Service(url, self.workdir, "service", self.args.worker).start()
        try:
            source_id = service.create_source(tenant.token)
            streams = {
                "first": dataset.first,
                "replay": dataset.first,
                "replay10": dataset.replay10,
            }
            for name in wanted:
                bodies = [data.with_source(b, source_id) for b in streams[name]]
                log(f"service {name}: {len(bodies)} bodies, {self.args.clients} clients")
                self.results["phases"][name] = self.drive(service, tenant.token, bodies, name)
                self._summarise(name)
            self.results["databaseBytes"] = self.databases.size_bytes(url)
        finally:
            service.stop()

    def preload_run(self, dataset: data.Dataset) -> None:
        url = self.databases.new("preload")
        store, tenant = prepare(url, with_source=False)
        service = Service(url, self.workdir, "preload", self.args.worker).start()
        try:
            source_id = service.create_source(tenant.token)
            log(f"preloading {self.args.preload:,} records (in-process fast path)")
            last = [time.monotonic()]

            def progress(done: int) -> None:
                if time.monotonic() - last[0] > 15:
                    last[0] = time.monotonic()
                    log(f"  preloaded {done:,}")

            result = limit.preload(
                store,
                tenant.org_id,
                source_id,
                data.preload_bodies(self.args.preload, self.args.seed),
                progress,
            )
            store.close()
            checkpoint(url)
            self.results["preload"] = result.as_json()
            log(f"preload: {result.records_per_second:,.0f} records/s")
            bodies = [data.with_source(b, source_id) for b in dataset.first]
            phase = self.drive(service, tenant.token, bodies, "preload")
            phase["storedBefore"] = self.args.preload
            self.results["phases"]["preload"] = phase
            self._summarise("preload")
        finally:
            service.stop()
        first = self.results["phases"].get("first")
        if first and first["figures"]["recordsPerSecond"]:
            self.results["preloadRatio"] = round(
                phase["figures"]["recordsPerSecond"] / first["figures"]["recordsPerSecond"], 3
            )

    def memory_run(self) -> None:
        bodies = data.memory_bodies(self.args.memory_batches, self.args.seed)
        url = self.databases.new("memory")
        store, tenant = prepare(url, with_source=False)
        store.close()
        service = Service(url, self.workdir, "memory", self.args.worker).start()
        try:
            source_id = service.create_source(tenant.token)
            idle = {role: proc_status(pid) for role, pid in service.pids.items()}
            bodies = [data.with_source(b, source_id) for b in bodies]
            log(
                f"memory: {len(bodies)} bodies of ~{sum(map(len, bodies)) / len(bodies) / 2**20:.1f}"
                f" MiB, {self.args.clients} clients"
            )
            phase = self.drive(service, tenant.token, bodies, "memory")
            phase["rss"]["serverIdle"] = idle.get("server", {}).get("VmRSS")
            phase["rss"]["workerIdle"] = idle.get("worker", {}).get("VmRSS")
            phase["bodyBytes"] = {"max": max(map(len, bodies)), "min": min(map(len, bodies))}
            self.results["phases"]["memory"] = phase
            self._summarise("memory")
        finally:
            service.stop()

    def _summarise(self, name: str) -> None:
        phase = self.results["phases"][name]
        figures = phase["figures"]
        log(
            f"  {name}: {figures['recordsPerSecond'] or 0:,.0f} records/s, "
            f"p99 {figures['latencyMs']['p99']} ms, lag p99 {figures['lagSeconds']['p99']} s, "
            f"server peak {(phase['rss']['serverPeak'] or 0) / 2**20:,.0f} MiB, "
            f"load {phase['loadAverage']['before']:.1f}->{phase['loadAverage']['after']:.1f}"
        )
        if figures["errors"]:
            log(f"  errors: {figures['errorSamples']}")

    # -- the whole run -----------------------------------------------------------------

    def run(self) -> int:
        args = self.args
        started = time.perf_counter()
        log(f"backend {self.databases.backend}, workdir {self.workdir}")
        if self.databases.backend == "postgresql":
            self.results["postgresql"] = self.databases.settings()
            log(f"postgresql: {self.results['postgresql']}")
        host = self.results["machine"]
        log(
            f"machine: {host['cpus']} CPUs {host['cpu']}, load average {host['loadAverage']}, "
            f"calibration loop {host['calibrationSeconds']} s"
        )
        dataset = None
        if any(p in args.phases for p in ("first", "replay", "replay10", "preload")):
            t0 = time.perf_counter()
            dataset = data.generate(args.records, args.seed)
            self.results["data"] = {
                **dataset.stats.summary(),
                "bodies": len(dataset.first),
                "bodyBytesMean": round(sum(map(len, dataset.first)) / len(dataset.first)),
                "bytes": sum(map(len, dataset.first)),
                "generateSeconds": round(time.perf_counter() - t0, 2),
            }
            log(f"data: {json.dumps(self.results['data'])}")
        try:
            if dataset is not None and not args.no_limit:
                self.results["limit"] = self.limit_runs(dataset)
            if dataset is not None:
                self.service_runs(dataset)
                if "preload" in args.phases:
                    self.preload_run(dataset)
            if "memory" in args.phases:
                self.memory_run()
        finally:
            if not args.keep:
                self.databases.drop_all()
        for name, phase in self.results["phases"].items():
            limit_result = self.results.get("limit", {}).get(name)
            if limit_result and phase["figures"]["recordsPerSecond"]:
                phase["limit"] = limit_result
                phase["ratioToLimit"] = round(
                    phase["figures"]["recordsPerSecond"] / limit_result["recordsPerSecond"], 3
                )
        self.results["totalSeconds"] = round(time.perf_counter() - started, 1)
        print()
        print(report.table(self.results))
        print(f"\ntotal {self.results['totalSeconds']:.0f} s; logs in {self.workdir}")
        if args.json:
            args.json.write_text(json.dumps(self.results, indent=2))
            print(f"results written to {args.json}")
        if not args.keep and args.workdir is None:
            remove_tree(self.workdir)
        failed = [
            name
            for name, phase in self.results["phases"].items()
            if phase["figures"]["errors"] or (phase["figures"]["notDone"] and args.worker != "none")
        ]
        if failed:
            print(f"FAILED: errors or unfinished batches in {', '.join(failed)}", file=sys.stderr)
            return 1
        return 0


def main(argv: list[str] | None = None) -> int:
    return Bench(parse_args(argv)).run()


if __name__ == "__main__":
    sys.exit(main())
