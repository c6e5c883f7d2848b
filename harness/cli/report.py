"""``harness report [--serve]``: the Allure HTML report of a test run, built offline.

The report generator is the npm package pinned in the repository's package.json (``allure``
3.x: Node.js only, no Java), installed with ``npm ci`` into node_modules and run with
``npx --no-install``: nothing is fetched at report time. ``--serve`` then serves the report
on 127.0.0.1 with Python's HTTP server (no browser is started; Ctrl-C stops it).

Exit status: 0 built (or served until Ctrl-C), 1 no results / no generator / it failed,
2 usage error.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from harness.cli.common import add_command, fail

REPORT_NAME = "SIP interoperability harness"

HELP = "build the Allure HTML report of a run offline (npm 'allure'), optionally serve it"
DESCRIPTION = (
    "Build the Allure HTML report from pytest's allure results with the npm "
    "package pinned in package.json (run `npm ci` once), offline."
)
EPILOG = """\
setup, once per checkout:  npm ci            (installs the pinned allure package)
results come from pytest:  pytest --alluredir reports/allure-results ...

examples:
  harness report                      # reports/allure-results -> reports/allure-report
  harness report --serve --port 8040  # build, then serve on http://127.0.0.1:8040/
"""


def register(sub: Any) -> None:
    parser = add_command(sub, "report", HELP, DESCRIPTION, EPILOG)
    parser.add_argument("--results", default="reports/allure-results", metavar="DIR",
                        help="allure-pytest's results (default: reports/allure-results)")
    parser.add_argument("--out", default="reports/allure-report", metavar="DIR",
                        help="where the HTML report goes (default: reports/allure-report)")
    parser.add_argument("--serve", action="store_true",
                        help="serve the report on 127.0.0.1 after building it (Ctrl-C stops)")
    parser.add_argument("--port", type=int, default=8040, help="port for --serve (default 8040)")
    parser.add_argument("--name", default=REPORT_NAME, help="the report's title")
    parser.set_defaults(func=run)


def find_root(start: Path | None = None) -> Path | None:
    """The folder whose package.json pins the allure generator: the current directory or
    one above it (the project's, never the installed package's location)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pkg = folder / "package.json"
        if not pkg.is_file():
            continue
        try:
            deps = json.loads(pkg.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        wanted = {**deps.get("dependencies", {}), **deps.get("devDependencies", {})}
        if "allure" in wanted or "allure-commandline" in wanted:
            return folder
    return None


def _fail(message: str) -> int:
    return fail("harness report", message)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        return fail("harness report", f"--port must be 1-65535, not {args.port}", 2)
    results = Path(args.results).resolve()
    out = Path(args.out).resolve()
    if not results.is_dir():
        return _fail(f"no results folder {args.results}: run pytest with --alluredir "
                     f"{args.results} first")
    if not any(results.glob("*-result.json")):
        return _fail(f"no Allure results in {args.results} (no *-result.json): run pytest with "
                     f"--alluredir {args.results} first")
    root = find_root()
    if root is None:
        return _fail("no package.json pinning the allure generator here or above: run this "
                     "from the harness checkout, then `npm ci`")
    npx = shutil.which("npx")
    if npx is None:
        return _fail(f"npx not found: install Node.js 20+ with npm (Debian: apt-get install "
                     f"nodejs npm), then run `npm ci` in {root}")
    if not (root / "node_modules" / ".bin" / "allure").exists():
        return _fail(f"the allure npm package is not installed: run `npm ci` in {root}")
    if out == results or out in results.parents:
        return _fail(f"--out {args.out} would overwrite the results: choose another folder")
    command = [npx, "--no-install", "allure", "generate", str(results), "-o", str(out),
               "--name", args.name]
    try:
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600,
                              check=False)
    except subprocess.TimeoutExpired:
        return _fail("the allure generator did not finish within 10 minutes")
    except OSError as exc:
        return _fail(f"cannot run npx: {exc.strerror or exc}")
    if done.returncode != 0 or not (out / "index.html").is_file():
        noise = ("npm warn", "npm WARN")
        lines = [ln for ln in (done.stderr + done.stdout).splitlines()
                 if ln.strip() and not ln.startswith(noise)]
        why = lines[-1].strip() if lines else f"exit status {done.returncode}"
        return _fail(f"the allure generator failed ({why}); command: {' '.join(command)}")
    count = sum(1 for _ in results.glob("*-result.json"))
    print(f"report: {out / 'index.html'} ({count} test results from {args.results})")
    if args.serve:
        return serve(out, args.port)
    return 0


def serve(folder: Path, port: int, host: str = "127.0.0.1") -> int:
    """Serve ``folder`` over HTTP until Ctrl-C."""
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        return _fail(f"cannot serve on {host}:{port}: {exc.strerror or exc} (try --port)")
    print(f"serving http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
    return 0
