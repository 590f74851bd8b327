"""One served controller for a module's tests (starting one costs two processes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.served import ServedController


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedController]:
    root = tmp_path_factory.mktemp("served")
    with pytest.MonkeyPatch.context() as mp:
        (root / "home").mkdir()
        for var, value in {"HOME": root / "home", "WARPCLI_STATE_DIR": root / "state",
                           "WARPCLI_CONFIG_DIR": root / "config", "WARPCLI_RUN_DIR": root / "run",
                           "WARPCLI_SECRET_BACKEND": "file", "NO_COLOR": "1"}.items():
            mp.setenv(var, str(Path(value)))
        for var in ("WARPCLI_CONTROLLER", "WARPCLI_LOCK_TIMEOUT", "PYTHON_KEYRING_BACKEND"):
            mp.delenv(var, raising=False)
        with ServedController(root / "state") as s:
            yield s
