"""The Linux host side: WireGuard interfaces, links, addresses, routes, rules, sysctls.

Small modules, one job each (see README.md in this directory). Nothing here imports
pyroute2 at module level; every function that touches the kernel takes ``netns``
(a name under ``/var/run/netns``, or ``None`` for the caller's own namespace).
"""
