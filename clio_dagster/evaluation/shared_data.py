"""Where evaluations find the public data sets that are not shipped in the package (`../shared/data`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from clio_dagster.settings import SettingsError

DEFAULT_SHARED_DATA = Path("..") / "shared" / "data"


def shared_data_dir(path: Path | None, datasets: Iterable[str]) -> Path:
    """`path` (default ../shared/data from the current directory) after checking that it holds a folder for
    each of `datasets`; otherwise a SettingsError that says what to pass."""
    folder = Path(path) if path is not None else DEFAULT_SHARED_DATA
    needed = list(datasets)
    missing = [name for name in needed if not (folder / name).is_dir()]
    if missing:
        where = "is not a folder" if not folder.is_dir() else f"lacks {', '.join(missing)}"
        raise SettingsError(
            f"Shared data {folder.resolve()} {where}: pass --shared-data DIR, a folder holding "
            f"{', '.join(needed)} (in a checkout of the project: ../shared/data)."
        )
    return folder
