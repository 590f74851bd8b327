"""Reading a policy rule the kernel reports into a :class:`~warpcli.host.model.KernelRule`.

Besides ``lookup TABLE``, warpcli writes two kinds of rule for a connector that shares its host
with another vnet's connector (:func:`warpcli.host.connector.slot_rules`): ``iif LAN ...
unreachable`` ends the lookup of its LAN's traffic before another vnet's table, and ``oif WG
lookup T`` routes the packets of sockets bound to its tunnel (the HA agent's probes) through
its own table. A rule with any other action is not warpcli's and reads as None.
"""

from __future__ import annotations

from warpcli.host.model import RULE_ACTIONS, KernelRule

ACTION_NAMES = {v: k for k, v in RULE_ACTIONS.items()}


def rule_value(*, oifname: str | None, action: int, **fields) -> KernelRule | None:
    """The rule the kernel reports, or None for an action warpcli never uses."""
    name = ACTION_NAMES.get(action)
    if name is None:
        return None
    return KernelRule(**fields, oifname=oifname, action=name)


def action_of(rule: KernelRule) -> int:
    return RULE_ACTIONS[rule.action]
