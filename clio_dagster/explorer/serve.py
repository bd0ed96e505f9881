"""Build missing explorer pages and serve the explorer folder on localhost (`clio explore`)."""

from __future__ import annotations

import functools
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from clio_dagster.core.concern import DEFAULT_CONCERN_FLOOR
from clio_dagster.lake import LakeWarehouse
from clio_dagster.explorer.render import (
    build_index,
    connect_public,
    list_partitions,
    page_name,
    partition_data,
    write_partition_page,
)


def build_missing(public_db: Path | LakeWarehouse, out_dir: Path, rebuild: bool = False,
                  concern_floor: float = DEFAULT_CONCERN_FLOOR) -> list[Path]:
    """Write the page of every partition that has none yet (all of them with `rebuild`), then the index.
    Returns the pages written, index last."""
    out_dir = Path(out_dir)
    con = connect_public(public_db)
    try:
        days = [d for d in list_partitions(con) if rebuild or not (out_dir / page_name(d)).is_file()]
        data = [partition_data(con, d, concern_floor) for d in days]
    finally:
        con.close()
    written = [write_partition_page(d, out_dir) for d in data]
    return written + [build_index(public_db, out_dir)]


class ExplorerHandler(SimpleHTTPRequestHandler):
    """Static files of one folder; no directory listings, no logging of requests to the terminal."""

    def list_directory(self, path):  # noqa: ANN001 (signature from the base class)
        self.send_error(HTTPStatus.NOT_FOUND, "No directory listing")
        return None

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        return


def make_server(directory: Path, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A ThreadingHTTPServer for `directory` on host:port (port 0: any free port)."""
    handler = functools.partial(ExplorerHandler, directory=str(Path(directory).resolve()))
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
