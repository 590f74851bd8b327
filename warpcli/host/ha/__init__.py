"""High availability of a connector: replicas elected by keepalived (VRRPv3), the hub told over the tunnel.

``keepalived.py`` writes keepalived's private config and starts/stops it by PID; ``prober.py`` is the
replica's agent (probes the hub, health checks, keepalived's track files, role changes from its notify
FIFO) and the hub's responder (moves a tunnel's CIDRs to the replica that is active); ``election.py``
holds the pure rules both sides follow; ``replica.py`` is what `up`, `down`, `status` and `ha` call.
"""
