"""Celery's filesystem broker and result backend, safe for several workers on one machine (`clio services`, the
scale-out test). Production uses Redis or RabbitMQ and never loads this module.

kombu writes a message file in place, and a worker polling the folder moves files without taking the writer's
lock: a worker that lists the folder mid-write takes an empty message and dies on its JSON, and the step it
held is lost with it (the run then waits forever). Celery's file result backend has the same race with the
run that polls it. Both here write under a name nobody reads, then rename: a rename within a folder is atomic.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from celery.backends.filesystem import FilesystemBackend
from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import ensure_bytes, str_to_bytes
from kombu.utils.json import dumps

def _write_then_rename(target: str | bytes, data: bytes) -> None:
    # The suffix keeps the partial file out of kombu's queue match ("<ms>_<uuid>.<queue>.msg").
    target = os.fsdecode(target)
    partial = f"{target}.{os.getpid()}.partial"
    with open(partial, "wb") as fh:
        fh.write(data)
    os.replace(partial, target)


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        filename = os.path.join(self.data_folder_out, f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg")
        try:
            _write_then_rename(filename, str_to_bytes(dumps(payload)))
        except OSError as exc:
            raise ChannelError(f"Cannot add file {filename!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


class AtomicFilesystemBackend(FilesystemBackend):
    def set(self, key, value):
        _write_then_rename(self._filename(key), ensure_bytes(value))
