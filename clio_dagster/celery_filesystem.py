"""Celery's filesystem broker and result backend, safe for several workers on one machine (`clio services`, the
scale-out test). Production uses Redis or RabbitMQ and never loads this module.

kombu writes a message file in place, and a worker polling the folder moves files without taking the writer's
lock: a worker that lists the folder mid-write takes an empty message and dies on its JSON, and the step it
held is lost with it (the run then waits forever). Workers starting at once race the same way on the exchange's
queue table, and Celery's file result backend on each result with the run that polls it. Here every file is
written under a name nobody reads, then renamed: a rename within a folder is atomic.
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
    def _change_table(self, exchange, routing_key, pattern, queue, bound: bool) -> None:
        """Add the binding to the exchange's queue table (`bound`) or remove it: under a lock file that serialises
        every process changing it, and by rename, so a reader never sees it half-written (kombu truncates the
        table in place: of two workers starting at once, one can read it empty and die on its JSON)."""
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(exist_ok=True)
        with open(f"{file}.lock", "ab") as guard:
            filesystem.lock(guard, filesystem.LOCK_EX)
            try:
                queues = self.get_table(exchange)
                entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
                changed = [entry, *queues] if bound and entry not in queues else \
                    [q for q in queues if bound or q != entry]
                if changed != queues:
                    _write_then_rename(str(file), str_to_bytes(dumps(changed)))
            finally:
                filesystem.unlock(guard)

    def _queue_bind(self, exchange, routing_key, pattern, queue):
        self._change_table(exchange, routing_key, pattern, queue, bound=True)

    def _delete(self, queue, exchange, routing_key, pattern, *args, **kwargs):
        super(filesystem.Channel, self)._delete(queue, exchange, routing_key, pattern, *args, **kwargs)
        self._change_table(exchange, routing_key, pattern, queue, bound=False)

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
