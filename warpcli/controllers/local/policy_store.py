"""Each vnet's network policy, one versioned JSON document per vnet (optimistic concurrency)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from warpcli.core.errors import Conflict
from warpcli.core.model import utcnow

if TYPE_CHECKING:
    from warpcli.core.policies import PolicySpec


from warpcli.controllers.local.interface import StorePart


class PolicyStore(StorePart):
    """Mixin: read and replace a vnet's policy (a stale revision is a Conflict)."""

    def get_policy(self, virtual_network_id: str) -> PolicySpec:
        from warpcli.core.policies import PolicySpec

        with self._errors():
            vnet = self._live_vnet(self.conn, virtual_network_id)
            row = self.conn.execute("SELECT document, revision FROM policies WHERE virtual_network_id = ?",
                                    (vnet.id,)).fetchone()
        return PolicySpec() if row is None else PolicySpec.from_document(row[0], int(row[1]))

    def get_policy_document(self, virtual_network_id: str) -> dict:
        import json

        with self._errors():
            vnet = self._live_vnet(self.conn, virtual_network_id)
            row = self.conn.execute("SELECT document, revision FROM policies WHERE virtual_network_id = ?",
                                    (vnet.id,)).fetchone()
        if row is None:
            return {"default": "allow", "rules": [], "revision": 0}
        return {**json.loads(row[0]), "revision": int(row[1])}

    def put_policy(self, virtual_network_id: str, policy: PolicySpec) -> PolicySpec:
        document = policy.document()
        with self._write() as conn:
            vnet = self._live_vnet(conn, virtual_network_id)
            row = conn.execute(
                "INSERT INTO policies(virtual_network_id, document, revision, updated_at) VALUES (?, ?, 1, ?) "
                "ON CONFLICT(virtual_network_id) DO UPDATE SET document = excluded.document, "
                "revision = policies.revision + 1, updated_at = excluded.updated_at "
                "WHERE policies.revision = ? RETURNING revision",
                (vnet.id, document, utcnow(), policy.revision),
            ).fetchone()
            if row is None:
                raise Conflict(f"the policy of virtual network {vnet.name!r} changed meanwhile",
                               hint="run the command again")
        from warpcli.core.policies import PolicySpec

        return PolicySpec(policy.default, policy.rules, int(row[0]))

