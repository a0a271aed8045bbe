"""`runner docs serve`: the generated site over HTTP on 127.0.0.1, that folder only."""

from __future__ import annotations

import functools
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOST = "127.0.0.1"


def serve(folder: Path, port: int) -> None:
    """Serve `folder` until interrupted (Ctrl-C)."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    with ThreadingHTTPServer((HOST, port), handler) as httpd:
        httpd.serve_forever()
