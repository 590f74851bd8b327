"""Kernel routing: rtnetlink (links, addresses, rules, routes), the plan of what to change, sysctls, namespaces, the MSS clamp."""
