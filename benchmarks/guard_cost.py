"""What the connection guard costs per request: mailhooks' protocol vs uvicorn's httptools.

    .venv/bin/python benchmarks/guard_cost.py                 # 5 interleaved rounds, 5 s runs
    .venv/bin/python benchmarks/guard_cost.py --rounds 3 --duration 3 --json

`mailhooks.edge.connections.GuardedHttpToolsProtocol` is uvicorn's `HttpToolsProtocol`
with limits checked where the bytes arrive: its overrides of data_received and the parser
callbacks count header bytes and lines on every request, a header deadline timer is armed
per connection (and per request whose head arrives in pieces), a body rate timer while a
body is still arriving, and connection_made/lost count connections per client. This
measures what that adds to a request, apart from any app.

Two uvicorn servers (one process each, uvloop), started by this script in `--serve` mode,
run the same minimal ASGI app (read the whole body, answer 200 with a 15-byte JSON body):
`stock` with `http="httptools"`, `guarded` with `http=` the guarded protocol, its default
limits except the per-client connection cap, raised to `--per-client-cap` (1,024) so that
the counting runs but never refuses wrk's 64 connections from one address (with new
connections per request a closing one may still be counted when the next opens).

Load: wrk -t1 -c64 posting the ingest benchmark's ~600-byte Delivered events
(`wrk/post_events.lua`), in two variants:
- keep-alive: every connection kept open, many requests each;
- close: `Connection: close` on every request (post_events.lua wrapped to add it), so
  each request is a new connection and connection_made/lost run for each.

After a warm-up per server and variant, each round runs every variant against both
servers, alternating which goes first. Per run: requests/s, and the server's CPU time
(user + system, /proc) over wrk's requests: CPU µs per request. The ratios guarded/stock
are taken per round and their medians printed, with each round's value. The cores are
shared by wrk, both servers and whatever else runs: compare the ratios of one run.
Exit status: 0 measured (errors or guard refusals are printed as FLAGGED), 1 a run failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

try:
    from kit.load import (
        LUA_SCRIPT,
        Load,
        Wrk,
        WrkResult,
        _result,
        check_template,
        event_template,
        fill,
        probe,
    )
    from kit.processes import (
        BenchmarkError,
        Children,
        Launch,
        Server,
        base_env,
        free_port,
        interrupt_on_sigterm,
        log_tail,
        running_server,
    )
    from kit.report import TIMES, progress
    from kit.sampling import (
        BUSY_REST,
        CLOCK_TICKS,
        CORES,
        children_cpu_seconds,
        group_cpu_seconds,
        machine_cpu,
        wait_for_quiet_host,
    )
    from kit.stores import ENDPOINT
    from starlette.types import Receive, Scope, Send
except ImportError as missing:  # pragma: no cover - depends on how it is started
    sys.exit(f"error: {missing}; run with the project's environment: .venv/bin/python {__file__}")

SECRET = "guard-cost-secret"
SERVERS = ("stock", "guarded")
#: uvicorn's `http` option for each server.
HTTP = {
    "stock": "httptools",
    "guarded": "mailhooks.edge.connections:GuardedHttpToolsProtocol",
}
VARIANTS = ("keep-alive", "close")
#: post_events.lua with `Connection: close` added to every request it formats.
CLOSE_WRAPPER = """-- guard_cost.py: post_events.lua, each request on a new connection
dofile({script})
local format = wrk.format
wrk.format = function(method, path, headers, body)
    headers = headers or wrk.headers
    headers["Connection"] = "close"
    return format(method, path, headers, body)
end
"""
#: What the guard logs when it closes or answers a connection itself (edge/connections.py).
REFUSAL = re.compile(r"closed a connection: |answered \d{3} to ")
OK_BODY = b'{"status":"ok"}'
OK_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(OK_BODY)).encode()),
]


# --- the servers (--serve) ---------------------------------------------------------------


async def answer(scope: Scope, receive: Receive, send: Send) -> None:
    """Read the whole body and answer 200: about the least an app does, so the protocol shows."""
    if scope["type"] != "http":
        return
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": OK_HEADERS})
    await send({"type": "http.response.body", "body": OK_BODY})


def serve(server: str, port: int, per_client_cap: int) -> None:
    """One server process: the guard configured here, as `mailhooks serve` does, then uvicorn."""
    import uvicorn

    if server == "guarded":
        from mailhooks.edge.connections import ConnectionLimits, GuardedHttpToolsProtocol

        GuardedHttpToolsProtocol.configure(
            ConnectionLimits(max_connections_per_client=per_client_cap)
        )
    uvicorn.run(
        answer,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http=HTTP[server],
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


def launch(server: str, per_client_cap: int) -> Launch:
    port = free_port()
    argv = [sys.executable, str(Path(__file__).resolve()), "--serve", server]
    argv += ["--port", str(port), "--per-client-cap", str(per_client_cap)]
    return Launch(argv, base_env(), port)


# --- the load ----------------------------------------------------------------------------


@dataclass
class Measure:
    """One measured run: wrk's figures and what the server and the host used meanwhile."""

    variant: str
    server: str
    round: int
    requests: int
    requests_per_s: float
    errors: int
    p50_ms: float
    p99_ms: float
    server_cpu_s: float
    wrk_cpu_s: float
    #: Cores used by everything else (other processes, interrupts) during the run.
    rest_cores: float

    @property
    def cpu_us_per_request(self) -> float:
        return self.server_cpu_s / self.requests * 1e6 if self.requests else float("inf")


@dataclass(frozen=True)
class Bench:
    """wrk against the two servers, for both variants."""

    wrk: Wrk
    close_script: Path
    connections: int
    workdir: Path

    def wrk_run(self, variant: str, port: int, seconds: int, tag: str) -> WrkResult:
        """One wrk run; keep-alive is the kit's own, close the same argv with the wrapper
        (kit.load.Wrk has no way to name another script), read by the kit's own parser."""
        load = Load(connections=self.connections, timeout=10)
        log = self.workdir / f"wrk-{tag}.log"
        if variant == "keep-alive":
            return self.wrk.run(port, load, seconds, tag, log)
        argv = [self.wrk.executable, f"-t{self.wrk.threads}", f"-c{load.connections}"]
        argv += [f"-d{seconds}s", f"--timeout={load.timeout}s", "-s", str(self.close_script)]
        argv += [f"http://127.0.0.1:{port}/hooks/{ENDPOINT}", "--", str(self.wrk.template), tag]
        cpu_before = children_cpu_seconds()
        children = self.wrk.children
        process = children.spawn(argv, env=base_env(), cwd=self.workdir, log=log)
        try:
            status = process.wait(seconds + load.timeout + 30)
        except subprocess.TimeoutExpired as error:
            raise BenchmarkError(f"wrk did not finish:\n{log_tail(log)}") from error
        finally:
            children.stop(process, grace=2.0)
        if status != 0:
            raise BenchmarkError(f"wrk exited with status {status}:\n{log_tail(log)}")
        return _result(load, log, children_cpu_seconds() - cpu_before)

    def measure(
        self, variant: str, name: str, server: Server, seconds: int, round_: int
    ) -> Measure:
        """A run with the server's CPU (its process group) and the host's around it."""
        host_before, cpu_before, started = (
            machine_cpu(),
            group_cpu_seconds(server.pid),
            time.monotonic(),
        )
        result = self.wrk_run(variant, server.port, seconds, f"{variant}-{name}-r{round_}")
        cpu_s = group_cpu_seconds(server.pid) - cpu_before
        wall, host_after = time.monotonic() - started, machine_cpu()
        server.check_alive()
        busy_s = (host_after[0] - host_before[0]) / CLOCK_TICKS
        return Measure(
            variant=variant,
            server=name,
            round=round_,
            requests=result.requests,
            requests_per_s=result.answered_per_s,
            errors=result.errors,
            p50_ms=result.p50_ms,
            p99_ms=result.p99_ms,
            server_cpu_s=cpu_s,
            wrk_cpu_s=result.cpu_s,
            rest_cores=max(busy_s - cpu_s - result.cpu_s, 0.0) / wall,
        )


def write_inputs(workdir: Path) -> tuple[Path, Path, int]:
    """The event template wrk fills and the close wrapper script; and a typical body size."""
    template = event_template(SECRET)
    body_bytes = check_template(template)
    template_path = workdir / "event.json"
    template_path.write_bytes(template)
    close_script = workdir / "post_events_close.lua"
    literal = json.dumps(str(LUA_SCRIPT), ensure_ascii=False)  # also a Lua string literal
    close_script.write_text(CLOSE_WRAPPER.format(script=literal))
    return template_path, close_script, body_bytes


def run_all(args: argparse.Namespace, workdir: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """Start both servers, warm up, measure the interleaved rounds; the report as a dict."""
    template, close_script, body_bytes = write_inputs(workdir)
    children = Children()
    bench = Bench(Wrk(args.wrk, 1, template, children), close_script, args.connections, workdir)
    measures: list[Measure] = []
    with contextlib.ExitStack() as stack:
        servers: dict[str, Server] = {}
        for name in SERVERS:
            log = workdir / f"{name}.log"
            servers[name] = stack.enter_context(
                running_server(launch(name, args.per_client_cap), log, children=children)
            )
            probe(servers[name].port, fill(template.read_bytes(), f"probe-{name}"))
        background = wait_for_quiet_host("guard_cost", args.wait_idle, 2.0, say)
        for variant in VARIANTS:
            for name in SERVERS:
                say(f"warm-up: {variant} {name} ({args.warmup} s)")
                bench.wrk_run(variant, servers[name].port, args.warmup, f"warm-{variant}-{name}")
        for round_ in range(1, args.rounds + 1):
            order = SERVERS if round_ % 2 else SERVERS[::-1]
            for variant in VARIANTS:
                for name in order:
                    measure = bench.measure(variant, name, servers[name], args.duration, round_)
                    say(
                        f"round {round_}/{args.rounds} {variant} {name}: "
                        f"{measure.requests_per_s:,.0f} req/s, "
                        f"{measure.cpu_us_per_request:.1f} µs CPU/request"
                    )
                    measures.append(measure)
        refusals = {name: guard_refusals(servers[name].log) for name in SERVERS}
    return report(args, body_bytes, measures, refusals, background)


def guard_refusals(log: Path) -> int:
    """Connections the guard closed or answered itself, from its log lines in a server's log."""
    with log.open(errors="replace") as lines:
        return sum(1 for line in lines if REFUSAL.search(line))


# --- the report --------------------------------------------------------------------------


def report(
    args: argparse.Namespace,
    body_bytes: int,
    measures: list[Measure],
    refusals: dict[str, int],
    background: float,
) -> dict[str, Any]:
    """Medians per variant and server, per-round ratios guarded/stock and their medians."""
    import uvicorn

    summary, ratios = [], {}
    for variant in VARIANTS:
        for name in SERVERS:
            mine = [m for m in measures if m.variant == variant and m.server == name]
            summary.append(
                {
                    "variant": variant,
                    "server": name,
                    "requests_per_s": statistics.median(m.requests_per_s for m in mine),
                    "cpu_us_per_request": statistics.median(m.cpu_us_per_request for m in mine),
                    "p50_ms": statistics.median(m.p50_ms for m in mine),
                    "p99_ms": statistics.median(m.p99_ms for m in mine),
                    "errors": sum(m.errors for m in mine),
                    "server_cores": statistics.median(m.server_cpu_s / args.duration for m in mine),
                    "wrk_cores": statistics.median(m.wrk_cpu_s / args.duration for m in mine),
                    "rest_cores": statistics.median(m.rest_cores for m in mine),
                }
            )
        ratios[variant] = {
            "cpu_per_request": per_round(measures, variant, lambda m: m.cpu_us_per_request),
            "requests_per_s": per_round(measures, variant, lambda m: m.requests_per_s),
        }
    flags = [
        f"{m.variant} {m.server} round {m.round}: {m.errors} failed requests"
        for m in measures
        if m.errors
    ]
    flags += [f"{name}: the guard refused {n} connections" for name, n in refusals.items() if n]
    noisy = [m.rest_cores for m in measures if m.rest_cores > BUSY_REST]
    notes = []
    if noisy:
        notes.append(
            f"in {len(noisy)} of {len(measures)} runs other work used more than {BUSY_REST} "
            f"cores ({min(noisy):.2f}-{max(noisy):.2f}): absolute figures are noisy, "
            "compare the ratios"
        )
    return {
        "settings": {
            "rounds": args.rounds,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "threads": 1,
            "body_bytes": body_bytes,
            "per_client_cap": args.per_client_cap,
            "uvicorn": uvicorn.__version__,
            "cores": CORES,
            "host_busy_before": background,
        },
        "summary": summary,
        "ratios": ratios,
        "runs": [asdict(m) | {"cpu_us_per_request": m.cpu_us_per_request} for m in measures],
        "flags": flags,
        "notes": notes,
    }


def per_round(
    measures: list[Measure], variant: str, figure: Callable[[Measure], float]
) -> dict[str, Any]:
    """figure(guarded) / figure(stock) in each round of a variant, and their median."""
    by_round: dict[int, dict[str, Measure]] = {}
    for m in measures:
        if m.variant == variant:
            by_round.setdefault(m.round, {})[m.server] = m
    values = [
        figure(pair["guarded"]) / figure(pair["stock"])
        for _round, pair in sorted(by_round.items())
        if len(pair) == 2 and figure(pair["stock"]) > 0
    ]
    return {"median": statistics.median(values), "rounds": values}


def print_report(report: dict[str, Any]) -> None:
    """The report as text, read from the same dict that --json prints."""
    s = report["settings"]
    print(
        f"guard_cost: wrk -t{s['threads']} -c{s['connections']}, {s['duration_s']} s runs "
        f"after {s['warmup_s']} s warm-up, medians of {s['rounds']} interleaved rounds; "
        f"{s['body_bytes']}-byte JSON POSTs; uvicorn {s['uvicorn']}, uvloop, one process "
        f"each; guarded per-client cap {s['per_client_cap']:,}; {s['cores']} cores, "
        f"{s['host_busy_before']:.0%} busy with other work before the start"
    )
    print(
        f"{'variant':<11} {'server':<8} {'req/s':>8} {'CPU µs/req':>11} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'errors':>6} {'srv CPU':>8} {'wrk CPU':>8} {'rest CPU':>8}"
    )
    print("-" * 92)
    for row in report["summary"]:
        print(
            f"{row['variant']:<11} {row['server']:<8} {row['requests_per_s']:>8,.0f} "
            f"{row['cpu_us_per_request']:>11.1f} {row['p50_ms']:>7.2f} {row['p99_ms']:>7.2f} "
            f"{row['errors']:>6} {row['server_cores']:>8.2f} {row['wrk_cores']:>8.2f} "
            f"{row['rest_cores']:>8.2f}"
        )
    for variant, ratio in report["ratios"].items():
        for key, what in (("cpu_per_request", "CPU per request"), ("requests_per_s", "req/s")):
            rounds = ", ".join(f"{value:.3f}" for value in ratio[key]["rounds"])
            print(
                f"{variant}: guarded/stock {what}: {ratio[key]['median']:.3f}{TIMES}"
                f"  [rounds: {rounds}]"
            )
    print(
        f"(CPU: cores used by the server process, by wrk, and by the rest: other processes "
        f"and interrupts; {CORES} cores in all)"
    )
    for note in report["notes"]:
        print(f"note: {note}")
    for flag in report["flags"]:
        print(f"FLAGGED: {flag}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per measured run (5)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per server (2)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument(
        "--per-client-cap", type=int, default=1024, help="guarded: connections per address"
    )
    parser.add_argument(
        "--wait-idle", type=float, default=0, help="seconds to wait for other load to drop (0)"
    )
    parser.add_argument("--wrk", default="wrk", help="the wrk executable")
    parser.add_argument("--json", dest="as_json", action="store_true", help="print JSON")
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.per_client_cap)
        return 0
    with tempfile.TemporaryDirectory(prefix="guard-cost-") as tmp, interrupt_on_sigterm():
        try:
            result = run_all(args, Path(tmp), progress)
        except BenchmarkError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    if args.as_json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
