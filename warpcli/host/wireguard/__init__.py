"""WireGuard interfaces: wireguard-go or the kernel module, the UAPI, peers."""
