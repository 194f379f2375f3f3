"""Cross-language lock interop: workers of every language contend for one streamgate lock.

Starts a real redis-server and two streamgate servers sharing it (`--redis-url`), then runs
`--per-language` workers of each language in workers/ concurrently, alternating between the
two servers; each does `--count` read-modify-write increments of one Redis counter under the
same lock. Exits 0 only when the counter is exactly workers x count and every worker exited 0.
The worker protocol is in README.md.

    python clients/interop/driver.py [--per-language 2] [--count 20] [--languages python,rust]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKERS = HERE / "workers"
sys.path.insert(0, str(HERE.parent / "python" / "tests"))

from harness import RedisServer, StreamgateServer  # noqa: E402

KEY = "interop:counter"
LOCK = "interop-lock"
RUN_TIMEOUT_S = 300.0


def available_languages() -> list[str]:
    """Every executable in workers/: each one is a language's worker."""
    return sorted(p.name for p in WORKERS.iterdir() if p.is_file() and p.stat().st_mode & 0o111)


def check_worker(language: str) -> str | None:
    """None when `workers/<language> --check` passes, else what it said."""
    result = subprocess.run(
        [str(WORKERS / language), "--check"], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    if result.returncode == 0:
        return None
    return (result.stderr or result.stdout).strip() or f"exit {result.returncode}"


def run(languages: list[str], per_language: int, count: int, pause_ms: float) -> int:
    problems = {lang: msg for lang in languages if (msg := check_worker(lang)) is not None}
    if problems:
        for lang, msg in problems.items():
            print(f"interop: {lang} worker cannot run: {msg}", file=sys.stderr)
        return 1

    redis = RedisServer()
    servers: list[StreamgateServer] = []
    workers: list[tuple[str, subprocess.Popen[str]]] = []
    try:
        servers = [StreamgateServer("--redis-url", redis.url) for _ in range(2)]
        redis.command("SET", KEY, "0")
        started = time.monotonic()
        for i in range(per_language):
            for lang in languages:
                server = servers[len(workers) % len(servers)]
                argv = [
                    str(WORKERS / lang),
                    "--server", server.addr,
                    "--redis-port", str(redis.port),
                    "--lock", LOCK,
                    "--count", str(count),
                    "--key", KEY,
                    "--pause-ms", str(pause_ms),
                    "--id", f"{lang}-{i}",
                ]  # fmt: skip
                proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                )
                workers.append((f"{lang}-{i}", proc))
        failed = []
        deadline = started + RUN_TIMEOUT_S
        for name, proc in workers:
            try:
                output, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                output, _ = proc.communicate()
                failed.append(name)
                print(f"interop: worker {name} timed out after {RUN_TIMEOUT_S:.0f} s\n{output}", file=sys.stderr)
                continue
            if proc.returncode != 0:
                failed.append(name)
                print(f"interop: worker {name} exited {proc.returncode}\n{output}", file=sys.stderr)
        elapsed = time.monotonic() - started
        total = int(redis.command("GET", KEY) or 0)
        expected = len(workers) * count
        summary = " ".join(f"{lang}={per_language}x{count}" for lang in languages)
        print(f"interop: {summary} on 2 servers sharing one Redis: counter {total} (expected {expected}), {elapsed:.1f} s")
        return 0 if total == expected and not failed else 1
    finally:
        for _, proc in workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for server in servers:
            server.stop()
        redis.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", help="comma-separated; default: every worker in workers/")
    parser.add_argument("--per-language", type=int, default=2)
    parser.add_argument("--count", type=int, default=20, help="increments per worker")
    parser.add_argument("--pause-ms", type=float, default=2.0, help="pause between GET and SET")
    args = parser.parse_args()
    languages = args.languages.split(",") if args.languages else available_languages()
    unknown = [lang for lang in languages if not (WORKERS / lang).is_file()]
    if unknown:
        parser.error(f"no worker for {', '.join(unknown)} in {WORKERS}")
    return run(languages, args.per_language, args.count, args.pause_ms)


if __name__ == "__main__":
    sys.exit(main())
