"""The library without the CLI: the public names, their lazy loading, and docs/library.md's example."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import warpcli

ROOT = Path(__file__).resolve().parent.parent


def test_every_public_name_resolves_and_is_documented() -> None:
    text = (ROOT / "docs" / "library.md").read_text(encoding="utf-8")
    for name in warpcli.__all__:
        assert getattr(warpcli, name) is not None
        if name != "__version__":
            assert name in text, f"docs/library.md does not mention warpcli.{name}"
    assert (ROOT / "warpcli" / "py.typed").exists()


def test_import_warpcli_loads_nothing_heavy() -> None:
    code = "import sys, warpcli; print(sorted(m for m in sys.modules if m.startswith('warpcli')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['warpcli']"


def test_the_documented_example_runs(tmp_path: Path, monkeypatch) -> None:
    text = (ROOT / "docs" / "library.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```python\n(.*?)```", text, re.S)
    script = tmp_path / "example.py"
    script.write_text(block)
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "WARPCLI_CONFIG_DIR": str(tmp_path / "config")}
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "refused: 10.1.0.0/24 is already routed" in r.stdout
    assert "10.1.0.0/24 office" in r.stdout


def test_controllers_take_cidr_text(tmp_path: Path) -> None:
    with warpcli.connect(tmp_path / "s", secrets=warpcli.MemorySecretStore()) as ctrl:
        t = warpcli.service.create_tunnel(ctrl, "t").obj
        r = ctrl.create_route("10.9.0.0/24", t.id)
        assert r.network == "10.9.0.0/24"
        assert ctrl.update_route(r.id, network="10.9.0.0/23").network == "10.9.0.0/23"
        try:
            ctrl.create_route("10.9.0.1/24", t.id)
        except warpcli.InvalidInput as exc:
            assert "host bits" in str(exc)
        else:
            raise AssertionError("host bits accepted")
        # the listing filters take text too (a CIDR; an address for "routes that contain it")
        from warpcli.core.model import RouteFilter

        inside = ctrl.create_route("10.9.0.128/25", t.id)
        assert [x.id for x in ctrl.list_routes(RouteFilter(network_subset="10.9.0.0/23"))] == [r.id, inside.id]
        assert [x.id for x in ctrl.list_routes(RouteFilter(network_superset="10.9.0.200"))] == [r.id, inside.id]
        assert list(ctrl.list_routes(RouteFilter(network_subset="10.10.0.0/16"))) == []


def test_the_memory_store_never_shows_its_values() -> None:
    store = warpcli.MemorySecretStore()
    store.set("k", "s3cret-value")
    assert store.get("k") == "s3cret-value" and "s3cret" not in repr(store)
    store.delete("k")
    store.delete("k")
    assert store.get("k") is None


def test_all_names_exactly_the_lazy_exports() -> None:
    assert set(warpcli.__all__) == {"__version__", *warpcli._EXPORTS}
