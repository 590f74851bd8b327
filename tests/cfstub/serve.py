"""``python -m tests.cfstub.serve STATE_DIR``: the Cloudflare stand-in as a process of its own.

For tests whose client runs in another network namespace: a process there cannot reach
127.0.0.1 of the test's namespace, so the stand-in is started in the client's namespace
(``ip netns exec NS python -m tests.cfstub.serve STATE_DIR``, from the repository root).

Protocol, one JSON line each way on stdout:

- once listening: ``{"url": ..., "account_id": ..., "token": ...}``;
- it serves until its stdin is closed (EOF), then stops and prints
  ``{"problems": [...], "requests": [[method, path, status], ...]}`` and exits 0.

The state in STATE_DIR may be arranged beforehand with a LocalController on the same
directory and the "file" secret backend (as ``CloudflareStandIn._open_controller`` opens it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.cfstub.server import CloudflareStandIn


def _say(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m tests.cfstub.serve STATE_DIR\n")
        return 2
    stand_in = CloudflareStandIn(Path(argv[0])).start()
    try:
        _say({"url": stand_in.url, "account_id": stand_in.account_id, "token": stand_in.token})
        for _ in sys.stdin.buffer:  # whatever the test writes is ignored; EOF ends the run
            pass
    finally:
        stand_in.stop()
    _say({
        "problems": stand_in.problems(),
        "requests": [[r.method, r.path, r.status] for r in stand_in.requests],
    })
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
