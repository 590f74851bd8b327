"""A Cloudflare API v4 stand-in for tests: warpcli's own server, contract-checked, with faults.

- :mod:`tests.cfstub.contract`: validate requests and responses against the contract: the
  OpenAPI subset plus the newer operations of ``cloudflare-openapi-additions.json``
  (made by :mod:`tests.cfstub.make_additions` from the official SDK's types).
- :mod:`tests.cfstub.server`: :class:`CloudflareStandIn`, the server on 127.0.0.1 with a
  request log, contract violations and a fault injector.
- :mod:`tests.cfstub.gateway`: the Zero Trust Gateway rules the stand-in keeps in memory.
- :mod:`tests.cfstub.fixtures`: ``cf_server(tmp_path)`` and the pytest fixture ``cf_api``.
"""
