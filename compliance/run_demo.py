"""`make demo`'s server: the web app and, beside it, the scheduler process; Ctrl-C stops both."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="5000")
    args = parser.parse_args()
    bindir = Path(sys.executable).parent
    compliance = str(bindir / "compliance")
    children = []
    if (
        "scheduler"
        in subprocess.run(
            [compliance, "--help"], capture_output=True, text=True, check=False
        ).stdout
    ):
        children.append(subprocess.Popen([compliance, "scheduler"]))
    web = subprocess.Popen([compliance, "serve", "--host", args.host, "--port", args.port])
    children.append(web)
    try:
        return web.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
