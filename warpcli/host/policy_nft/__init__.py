"""A vnet's network policy enforced at its hub, in an nftables table of warpcli's own.

What warpcli owns: the table ``inet warpcli_policy_IFNAME`` (one per hub interface). Its
base chain ``forward`` (hook forward, priority filter) looks only at packets that arrive on
the hub interface:

- a packet in the reply direction of a tracked connection passes, and so does an ICMP error
  related to one (stateful: the server side of an allowed flow needs no rule of its own);
- every other packet (the first of a connection and each later one in the original
  direction) is looked up **once** in a verdict map keyed on
  ``saddr . daddr . l4proto . dport`` (TCP, UDP) or ``saddr . daddr . l4proto`` (the rest),
  one pair of maps per IP family; each element carries a counter and its rule's name, and
  decides: accept, drop, or (``--log`` rules) a goto to the rule's chain ``log_HASH``, which
  counts and logs new connections, then gives the verdict;
- a miss goes through the ordered suffix (chain ``sfx``, see below), then to the default
  chain ``dflt``.

First match wins in the model; a map lookup has no order, so the compiler turns the ordered
rules into disjoint boxes first: each rule keeps only the part of its match space that no
earlier rule took. The kernel's cost per packet is then one set lookup whatever the number of
rules, and checking each packet of the original direction (not only the first) is what cuts an
established connection that a new rule denies. A rule that earlier rules would cut into too many
pieces starts the *ordered suffix*: it and every later rule are one nft rule each in ``sfx``,
checked in order after the maps missed.

Updates are incremental (:func:`plan`): the hub keeps a record of what it loaded, a change is
compiled against it and sent as one nft transaction of ``delete element``/``add element`` and
chain changes, so unchanged elements keep their counters. Whatever that path cannot trust or
handle (a crash, a table deleted or loaded by someone else, a change inside the ordered suffix, a
rule that now falls into too many pieces) ends in the full load: the whole table replaced in one
transaction, its counters from zero.

The modules, each on what the one before gives: ``boxes`` (first match wins -> disjoint boxes,
the model -> boxes), ``layout`` (what is loaded: signatures, the compiled layout, the record and
its lock), ``compiler`` (compiling in full or against the record), ``ruleset`` (the nftables
JSON), ``enforce`` (running nft: plan, load, remove, the counters).
"""

from warpcli.host.policy_nft.enforce import (
    RuleCounters,
    counters,
    describe,
    load,
    loaded_gen,
    plan,
    remove,
    stats,
    wanted,
)
from warpcli.host.policy_nft.layout import Spec, without_gc
from warpcli.host.policy_nft.ruleset import FAMILY, table

__all__ = ["FAMILY", "RuleCounters", "Spec", "counters", "describe", "load", "loaded_gen", "plan", "remove", "stats",
           "table", "wanted", "without_gc"]
