"""A moto S3 server whose HTTP listener can be stopped and started again without losing its state, and
which can be told to fail requests for chosen keys. Run as a subprocess by tests/test_faults.py:

    python tests/faultserver.py <port> <rules.json>

* SIGUSR1 stops the listener (the port is closed: clients get "connection refused"); SIGUSR2 starts it
  again on the same port. Buckets, objects and versions live in the process and survive.
* ``rules.json`` (re-read on every request, may be absent): ``{"<substring of the path>": <HTTP status>}``;
  a request whose path contains the substring gets that status with an S3 error body (403 AccessDenied,
  500 InternalError, ...) instead of reaching moto.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

_CODES = {403: "AccessDenied", 404: "NoSuchKey", 500: "InternalError", 503: "ServiceUnavailable"}


def main() -> None:
    host, port, rules_path = "127.0.0.1", int(sys.argv[1]), Path(sys.argv[2])
    moto_app = DomainDispatcherApplication(create_backend_app)

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        rules = json.loads(rules_path.read_text()) if rules_path.exists() else {}
        path = environ.get("PATH_INFO", "")
        for fragment, status in rules.items():
            if fragment in path:
                code = _CODES.get(int(status), "InjectedFault")
                body = f"<Error><Code>{code}</Code><Message>injected fault</Message></Error>".encode()
                start_response(f"{status} {code}", [("Content-Type", "application/xml")])
                return [body]
        return moto_app(environ, start_response)

    state: dict[str, Any] = {"server": None, "thread": None}
    lock = threading.Lock()

    def start() -> None:
        with lock:
            if state["server"] is not None:
                return
            server: BaseWSGIServer = make_server(host, port, app, True, request_handler=MotoRequestHandler)
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            state.update(server=server, thread=thread)
        print("listening", flush=True)

    def stop() -> None:
        with lock:
            server = state["server"]
            if server is None:
                return
            server.shutdown()
            server.server_close()
            state["thread"].join()
            state.update(server=None, thread=None)
        print("stopped", flush=True)

    # the handlers only start threads: werkzeug's shutdown() must not run inside a signal handler
    signal.signal(signal.SIGUSR1, lambda *_: threading.Thread(target=stop).start())
    signal.signal(signal.SIGUSR2, lambda *_: threading.Thread(target=start).start())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    start()
    # not signal.pause(): a signal delivered to one of the server's threads would not wake the main thread,
    # and Python runs handlers only in the main thread (a stop once waited ~60 s, until the next signal)
    while True:
        time.sleep(0.05)


if __name__ == "__main__":
    main()
