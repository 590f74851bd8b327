"""The state database schema, versioned through ``PRAGMA user_version``.

``MIGRATIONS[i]`` takes the schema from version ``i`` to ``i + 1``. Append, never edit.
Network bounds are stored as big-endian BLOBs (4 bytes for IPv4, 16 for IPv6),
which SQLite compares bytewise, so index range scans answer "within" queries
and point probes answer "contains" queries without full scans.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 0 -> 1
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE virtual_networks (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        comment TEXT NOT NULL DEFAULT '',
        is_default INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        deleted_at TEXT
    );
    CREATE UNIQUE INDEX vnet_name ON virtual_networks(name) WHERE deleted_at IS NULL;
    CREATE UNIQUE INDEX vnet_one_default ON virtual_networks(is_default)
        WHERE is_default = 1 AND deleted_at IS NULL;
    CREATE TABLE tunnels (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'inactive',
        token_sha256 TEXT NOT NULL,
        created_at TEXT NOT NULL,
        deleted_at TEXT
    );
    CREATE UNIQUE INDEX tunnel_name ON tunnels(name) WHERE deleted_at IS NULL;
    CREATE TABLE routes (
        id TEXT PRIMARY KEY,
        network TEXT NOT NULL,
        version INTEGER NOT NULL,
        lo BLOB NOT NULL,
        hi BLOB NOT NULL,
        prefixlen INTEGER NOT NULL,
        tunnel_id TEXT NOT NULL REFERENCES tunnels(id),
        virtual_network_id TEXT NOT NULL REFERENCES virtual_networks(id),
        comment TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        deleted_at TEXT
    );
    CREATE UNIQUE INDEX route_cidr ON routes(virtual_network_id, version, prefixlen, lo)
        WHERE deleted_at IS NULL;
    CREATE INDEX route_lo ON routes(virtual_network_id, version, lo, prefixlen)
        WHERE deleted_at IS NULL;
    CREATE INDEX route_tunnel ON routes(tunnel_id) WHERE deleted_at IS NULL;
    """,
    # 1 -> 2: enrolled hosts and the hubs that route between them
    """
    CREATE TABLE connectors (
        id TEXT PRIMARY KEY,
        tunnel_id TEXT NOT NULL REFERENCES tunnels(id),
        virtual_network_id TEXT NOT NULL REFERENCES virtual_networks(id),
        public_key TEXT NOT NULL,
        address INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        last_seen TEXT,
        deleted_at TEXT
    );
    CREATE UNIQUE INDEX connector_address ON connectors(address) WHERE deleted_at IS NULL;
    CREATE UNIQUE INDEX connector_key ON connectors(public_key) WHERE deleted_at IS NULL;
    CREATE TABLE hubs (
        id TEXT PRIMARY KEY,
        virtual_network_id TEXT NOT NULL REFERENCES virtual_networks(id),
        public_key TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        deleted_at TEXT
    );
    CREATE UNIQUE INDEX hub_vnet ON hubs(virtual_network_id) WHERE deleted_at IS NULL;
    """,
    # 2 -> 3: API tokens of `warpcli controller serve` (only their sha256 is kept)
    """
    CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        token_sha256 TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_used_at TEXT,
        revoked_at TEXT
    );
    CREATE UNIQUE INDEX api_token_name ON api_tokens(name) WHERE revoked_at IS NULL;
    CREATE UNIQUE INDEX api_token_digest ON api_tokens(token_sha256);
    """,
    # 3 -> 4: route indexes. route_cidr had the columns of route_lo in another order, and
    # route_lo answers every question route_cidr did (equality on all four columns, the
    # containment seeks on lo), so one unique index keeps both jobs. route_sweep covers the
    # overlap report: it hands every live route over in address order without visiting the
    # table (deleted_at is in it only so that SQLite sees the partial index as covering), so
    # the report's sort finds its input sorted and its sweep walks memory in order.
    """
    DROP INDEX route_cidr;
    DROP INDEX route_lo;
    CREATE UNIQUE INDEX route_cidr ON routes(virtual_network_id, version, lo, prefixlen)
        WHERE deleted_at IS NULL;
    CREATE INDEX route_sweep
        ON routes(version, lo, prefixlen, virtual_network_id, tunnel_id, id, network, deleted_at)
        WHERE deleted_at IS NULL;
    """,
    # 4 -> 5: several hubs per vnet (issue 13), each with a priority and its own device address
    # (1684013057 is 100.96.0.1, HUB_ADDRESS, the address every hub had so far)
    """
    ALTER TABLE hubs ADD COLUMN priority INTEGER NOT NULL DEFAULT 100;
    ALTER TABLE hubs ADD COLUMN address INTEGER NOT NULL DEFAULT 1684013057;
    DROP INDEX hub_vnet;
    CREATE INDEX hub_vnet ON hubs(virtual_network_id) WHERE deleted_at IS NULL;
    CREATE UNIQUE INDEX hub_address ON hubs(virtual_network_id, address) WHERE deleted_at IS NULL;
    """,
    # 5 -> 6: what runs, as the hub reports it (core.liveness), and tunnels' HA settings. Kept out of
    # the tables a state version covers: reports arrive every few seconds and change no plan.
    """
    CREATE TABLE connector_reports (
        connector_id TEXT PRIMARY KEY REFERENCES connectors(id),
        last_seen TEXT,
        version TEXT,
        role TEXT,
        priority INTEGER,
        role_changed_at TEXT,
        reported_at TEXT NOT NULL
    );
    CREATE TABLE tunnel_ha (
        tunnel_id TEXT PRIMARY KEY REFERENCES tunnels(id),
        ha_mode TEXT NOT NULL,
        config TEXT,
        configuration_version INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT,
        failover_connector_id TEXT,
        failover_requested_at TEXT
    );
    """,
    # 6 -> 7: network policies, one document per vnet (warpcli.core.policies); ``revision``
    # moves on every write, so a read-modify-write refuses to overwrite a newer one
    """
    CREATE TABLE policies (
        virtual_network_id TEXT PRIMARY KEY REFERENCES virtual_networks(id),
        document TEXT NOT NULL,
        revision INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

#: The same tables on PostgreSQL, versioned in ``warpcli_schema`` (``POSTGRES_MIGRATIONS[i]``
#: takes it from ``i`` to ``i + 1``; append, never edit). Text is ``COLLATE "C"`` so that
#: names and ids sort bytewise as in SQLite, network bounds are ``bytea`` (compared
#: bytewise, like SQLite's BLOBs) and timestamps stay the exact text SQLite keeps, so
#: ``controller copy`` moves rows between the two unchanged. Every write transaction adds a
#: row to ``state_changes``; ``state_version`` is ``state_counter.version`` plus their count
#: (folded into the counter now and then). An insert per write, not an update of one hot row,
#: so concurrent writers do not queue on a row lock held until their commit is flushed.
POSTGRES_MIGRATIONS: list[str] = [
    # 0 -> 1: everything SQLite's schema 4 has, plus the change counter
    """
    CREATE TABLE meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT COLLATE "C" NOT NULL);
    CREATE TABLE state_counter (id INTEGER PRIMARY KEY CHECK (id = 1), version BIGINT NOT NULL);
    INSERT INTO state_counter(id, version) VALUES (1, 0);
    CREATE TABLE state_changes (one SMALLINT NOT NULL DEFAULT 1);
    CREATE TABLE virtual_networks (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL,
        comment TEXT COLLATE "C" NOT NULL DEFAULT '',
        is_default INTEGER NOT NULL DEFAULT 0,
        created_at TEXT COLLATE "C" NOT NULL,
        deleted_at TEXT COLLATE "C"
    );
    CREATE UNIQUE INDEX vnet_name ON virtual_networks(name) WHERE deleted_at IS NULL;
    CREATE UNIQUE INDEX vnet_one_default ON virtual_networks(is_default)
        WHERE is_default = 1 AND deleted_at IS NULL;
    CREATE TABLE tunnels (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL,
        status TEXT COLLATE "C" NOT NULL DEFAULT 'inactive',
        token_sha256 TEXT COLLATE "C" NOT NULL,
        created_at TEXT COLLATE "C" NOT NULL,
        deleted_at TEXT COLLATE "C"
    );
    CREATE UNIQUE INDEX tunnel_name ON tunnels(name) WHERE deleted_at IS NULL;
    CREATE TABLE routes (
        id TEXT COLLATE "C" PRIMARY KEY,
        network TEXT COLLATE "C" NOT NULL,
        version INTEGER NOT NULL,
        lo BYTEA NOT NULL,
        hi BYTEA NOT NULL,
        prefixlen INTEGER NOT NULL,
        tunnel_id TEXT COLLATE "C" NOT NULL REFERENCES tunnels(id),
        virtual_network_id TEXT COLLATE "C" NOT NULL REFERENCES virtual_networks(id),
        comment TEXT COLLATE "C" NOT NULL DEFAULT '',
        created_at TEXT COLLATE "C" NOT NULL,
        deleted_at TEXT COLLATE "C"
    );
    CREATE UNIQUE INDEX route_cidr ON routes(virtual_network_id, version, lo, prefixlen)
        WHERE deleted_at IS NULL;
    CREATE INDEX route_tunnel ON routes(tunnel_id) WHERE deleted_at IS NULL;
    CREATE INDEX route_sweep ON routes(version, lo, prefixlen)
        INCLUDE (virtual_network_id, tunnel_id, id, network) WHERE deleted_at IS NULL;
    CREATE TABLE connectors (
        id TEXT COLLATE "C" PRIMARY KEY,
        tunnel_id TEXT COLLATE "C" NOT NULL REFERENCES tunnels(id),
        virtual_network_id TEXT COLLATE "C" NOT NULL REFERENCES virtual_networks(id),
        public_key TEXT COLLATE "C" NOT NULL,
        address BIGINT NOT NULL,
        created_at TEXT COLLATE "C" NOT NULL,
        last_seen TEXT COLLATE "C",
        deleted_at TEXT COLLATE "C"
    );
    CREATE UNIQUE INDEX connector_address ON connectors(address) WHERE deleted_at IS NULL;
    CREATE UNIQUE INDEX connector_key ON connectors(public_key) WHERE deleted_at IS NULL;
    CREATE TABLE hubs (
        id TEXT COLLATE "C" PRIMARY KEY,
        virtual_network_id TEXT COLLATE "C" NOT NULL REFERENCES virtual_networks(id),
        public_key TEXT COLLATE "C" NOT NULL,
        endpoint TEXT COLLATE "C" NOT NULL,
        created_at TEXT COLLATE "C" NOT NULL,
        updated_at TEXT COLLATE "C" NOT NULL,
        deleted_at TEXT COLLATE "C"
    );
    CREATE UNIQUE INDEX hub_vnet ON hubs(virtual_network_id) WHERE deleted_at IS NULL;
    CREATE TABLE api_tokens (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL,
        token_sha256 TEXT COLLATE "C" NOT NULL,
        created_at TEXT COLLATE "C" NOT NULL,
        last_used_at TEXT COLLATE "C",
        revoked_at TEXT COLLATE "C"
    );
    CREATE UNIQUE INDEX api_token_name ON api_tokens(name) WHERE revoked_at IS NULL;
    CREATE UNIQUE INDEX api_token_digest ON api_tokens(token_sha256);
    """,
    # 1 -> 2: the listing order of every route, deleted ones too (what GET teamnet/routes lists
    # by default): a page seeks after the previous page's last key instead of sorting the vnet
    """
    CREATE INDEX route_key ON routes(virtual_network_id, version, lo, prefixlen, id);
    """,
    # 2 -> 3: what SQLite's 4 -> 5 does (several hubs per vnet)
    """
    ALTER TABLE hubs ADD COLUMN priority INTEGER NOT NULL DEFAULT 100;
    ALTER TABLE hubs ADD COLUMN address BIGINT NOT NULL DEFAULT 1684013057;
    DROP INDEX hub_vnet;
    CREATE INDEX hub_vnet ON hubs(virtual_network_id) WHERE deleted_at IS NULL;
    CREATE UNIQUE INDEX hub_address ON hubs(virtual_network_id, address) WHERE deleted_at IS NULL;
    """,
    # 3 -> 4: as SQLite's 5 -> 6 (reports and HA settings; writes to them add no state_changes row)
    """
    CREATE TABLE connector_reports (
        connector_id TEXT COLLATE "C" PRIMARY KEY REFERENCES connectors(id),
        last_seen TEXT COLLATE "C",
        version TEXT COLLATE "C",
        role TEXT COLLATE "C",
        priority INTEGER,
        role_changed_at TEXT COLLATE "C",
        reported_at TEXT COLLATE "C" NOT NULL
    );
    CREATE TABLE tunnel_ha (
        tunnel_id TEXT COLLATE "C" PRIMARY KEY REFERENCES tunnels(id),
        ha_mode TEXT COLLATE "C" NOT NULL,
        config TEXT COLLATE "C",
        configuration_version INTEGER NOT NULL DEFAULT 0,
        created_at TEXT COLLATE "C" NOT NULL,
        updated_at TEXT COLLATE "C",
        failover_connector_id TEXT COLLATE "C",
        failover_requested_at TEXT COLLATE "C"
    );
    """,
    # 4 -> 5: network policies (SQLite's schema 7)
    """
    CREATE TABLE policies (
        virtual_network_id TEXT COLLATE "C" PRIMARY KEY REFERENCES virtual_networks(id),
        document TEXT COLLATE "C" NOT NULL,
        revision BIGINT NOT NULL,
        updated_at TEXT COLLATE "C" NOT NULL
    );
    """,
]

POSTGRES_SCHEMA_VERSION = len(POSTGRES_MIGRATIONS)

#: The tables ``controller copy`` moves, parents first, with the columns both schemas share
COPIED_TABLES: list[tuple[str, str, str]] = [
    ("virtual_networks", "id, name, comment, is_default, created_at, deleted_at", "id"),
    ("tunnels", "id, name, status, token_sha256, created_at, deleted_at", "id"),
    ("routes", "id, network, version, lo, hi, prefixlen, tunnel_id, virtual_network_id, comment, created_at, "
               "deleted_at", "id"),
    ("connectors", "id, tunnel_id, virtual_network_id, public_key, address, created_at, last_seen, deleted_at", "id"),
    ("hubs", "id, virtual_network_id, public_key, endpoint, created_at, updated_at, deleted_at, priority, address",
     "id"),
    ("api_tokens", "id, name, token_sha256, created_at, last_used_at, revoked_at", "id"),
    ("connector_reports", "connector_id, last_seen, version, role, priority, role_changed_at, reported_at",
     "connector_id"),
    ("tunnel_ha", "tunnel_id, ha_mode, config, configuration_version, created_at, updated_at, "
                  "failover_connector_id, failover_requested_at", "tunnel_id"),
    ("policies", "virtual_network_id, document, revision, updated_at", "virtual_network_id"),
]
