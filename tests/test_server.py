"""warpcli.server as product code: error mapping, serving (TLS, port 0, stop), logs, import hygiene."""

from __future__ import annotations

import ast
import datetime
import inspect
import logging
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from warpcli.controllers.local import LocalController
from warpcli.core import errors
from warpcli.secret_stores import open_secret_store
from warpcli.server import close_controllers, create_app, make_server
from warpcli.server.errors import failure_for, mapped_classes

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "test-token-0123456789abcdefghijklmnopqr"


def opener(state: Path, cls: type[LocalController] = LocalController, opened: list | None = None):
    def open_controller() -> LocalController:
        controller = cls(state, secrets=lambda: open_secret_store("file", state), lock_timeout=10)
        if opened is not None:
            opened.append(controller)
        return controller

    return open_controller


@contextmanager
def serving(tmp_path: Path, cls: type[LocalController] = LocalController, opened: list | None = None,
            **server_args) -> Iterator[tuple[str, str]]:
    """(base URL, account id) of a server on 127.0.0.1 over a fresh state."""
    state = tmp_path / "state"
    with opener(state)() as c:
        account = c.account_id
    app = create_app(opener(state, cls, opened), account_id=account, authorize=lambda t: t == TOKEN)
    server = make_server(app, "127.0.0.1", 0, **server_args)
    server.start_in_thread()
    try:
        yield f"{server.url}/client/v4", account
    finally:
        server.stop()
        close_controllers(app)


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_every_error_class_has_its_own_status_and_code() -> None:
    classes = {obj for _, obj in inspect.getmembers(errors, inspect.isclass)
               if issubclass(obj, errors.WarpcliError)}
    assert classes - mapped_classes() == set(), "map new error classes in warpcli/server/errors.py"
    for cls in classes:
        exc = cls("x", []) if cls is errors.BulkImportError else cls("x")
        failure = failure_for(exc)
        assert failure.code >= 1000 and 400 <= failure.status < 600
    assert failure_for(errors.BulkImportError("x", [], conflict=True)).status == 409
    assert failure_for(errors.NotFound("no tunnel")).status == 404
    assert failure_for(ValueError("secret detail")).message == "Internal server error"


def test_port_zero_is_resolved_and_stop_releases_it(tmp_path: Path) -> None:
    with serving(tmp_path) as (url, _):
        port = int(url.split(":")[2].split("/")[0])
        assert port > 0
        assert requests.get(f"{url}/user/tokens/verify", headers=AUTH, timeout=10).status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{url}/user/tokens/verify", headers=AUTH, timeout=2)


def test_tls_needs_both_files(tmp_path: Path) -> None:
    app = create_app(opener(tmp_path), account_id="0" * 32, authorize=lambda t: False)
    with pytest.raises(ValueError, match="both"):
        make_server(app, "127.0.0.1", 0, tls_cert="cert.pem")


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_tls(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    with serving(tmp_path, tls_cert=str(cert), tls_key=str(key)) as (url, _):
        assert url.startswith("https://127.0.0.1:")
        resp = requests.get(f"{url}/user/tokens/verify", headers=AUTH, timeout=10, verify=str(cert))
        assert resp.json()["result"]["status"] == "active"


def test_access_log_has_the_request_but_no_secret(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="warpcli.server")
    with serving(tmp_path) as (url, account):
        requests.get(f"{url}/accounts/{account}/warp_connector", params={"name": "office", "api_token": "hush"},
                     headers=AUTH, timeout=10)
        requests.get(f"{url}/user/tokens/verify", headers={"Authorization": "Bearer wrong-token"}, timeout=10)
    lines = [r.getMessage() for r in caplog.records if r.name == "warpcli.server.access"]
    assert len(lines) == 2
    assert lines[0].startswith(f"method=GET path=/client/v4/accounts/{account}/warp_connector "
                               'query="name=office&api_token=%2A%2A%2A" status=200 duration_ms=')
    assert " principal=api token_id=" in lines[0]
    assert "status=401" in lines[1] and "principal=- token_id=-" in lines[1]
    everything = caplog.text
    assert TOKEN not in everything and "wrong-token" not in everything and "hush" not in everything


class _Exploding(LocalController):
    def list_tunnels(self, **kwargs):
        raise RuntimeError("internal detail that must not leak")


def test_an_unexpected_error_is_a_500_envelope_and_a_log_line(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    with serving(tmp_path, cls=_Exploding) as (url, account):
        resp = requests.get(f"{url}/accounts/{account}/warp_connector", headers=AUTH, timeout=10)
    assert resp.status_code == 500 and resp.headers["Content-Type"] == "application/json"
    assert resp.json() == {"success": False, "errors": [{"code": 1000, "message": "Internal server error"}],
                           "messages": [], "result": None}
    (record,) = [r for r in caplog.records if r.name == "warpcli.server" and r.levelno == logging.ERROR]
    assert "RuntimeError" in record.getMessage() and "/warp_connector" in record.getMessage()
    assert TOKEN not in caplog.text


def test_one_controller_per_server_thread(tmp_path: Path) -> None:
    opened: list[LocalController] = []
    with serving(tmp_path, opened=opened, threads=3) as (url, account):
        session = requests.Session()
        for i in range(30):
            assert session.post(f"{url}/accounts/{account}/warp_connector", json={"name": f"t{i}"},
                                headers=AUTH, timeout=10).status_code == 200
    assert 1 <= len(opened) <= 3
    assert all(c._conn is None for c in opened)  # closed with the server


#: the one CLI module that may load the server, and only inside the function that serves
SERVE_COMMAND = ROOT / "warpcli" / "cli" / "commands" / "controller.py"


def test_the_cli_never_imports_the_server(tmp_path: Path) -> None:
    for path in (ROOT / "warpcli").rglob("*.py"):
        if "server" in path.relative_to(ROOT / "warpcli").parts:
            continue
        tree = ast.parse(path.read_text())
        if path == SERVE_COMMAND:
            # module level (and class bodies) only: `serve` imports it inside its function
            tree = ast.Module([n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))],
                              type_ignores=[])
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith("warpcli.server") or n.split(".")[0] in ("flask", "cheroot", "h11")
                           for n in names), f"{path} imports the server"
    probe = (
        "import sys\nsys.argv = ['warpcli', 'tunnel', 'list', '--json']\n"
        "from warpcli.cli.app import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('warpcli.server', 'flask', 'cheroot', 'h11', 'werkzeug'))))"
    )
    env = {"WARPCLI_STATE_DIR": str(tmp_path / "s"), "WARPCLI_CONFIG_DIR": str(tmp_path / "c"),
           "WARPCLI_SECRET_BACKEND": "file", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60,
                         check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
