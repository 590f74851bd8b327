"""The one place that maps errors to exit codes. Documented in README.md ("Exit codes")."""

from enum import IntEnum

from warpcli.core import errors


class Interrupted(errors.WarpcliError):
    """Ctrl-C stopped a command; the message says whether its change was made (CLI only:
    a library caller gets ``KeyboardInterrupt``)."""


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  #: anything else that went wrong (secret store unusable, ...)
    USAGE = 2  #: bad arguments or input: a malformed CIDR or IP, an invalid config file
    NOT_FOUND = 3  #: the tunnel, virtual network or route does not exist (or no route to the IP)
    CONFLICT = 4  #: it already exists, or the change would break a rule (duplicate CIDR, default vnet)
    STATE = 5  #: the state store is unusable: corrupt, locked, unreadable, or from a newer version
    PERMISSION = 6  #: the command needs root (it changes interfaces, routes or sysctls)
    AUTH = 7  #: the controller's API refused the credentials (no token, invalid token, missing permission)
    DEGRADED = 8  #: `status`: the connector is not healthy (down, no handshake, route drift, no forwarding)
    UNAVAILABLE = 9  #: the controller's API could not be reached, or kept failing (timeouts, 5xx): retry later
    CHANGES_PENDING = 10  #: `apply --dry-run`: the plan has changes (0 there means "no changes"); not an error
    POLICY_DENIED = 11  #: `policy test`: the policy denies the flow (0: allowed); not an error
    INTERNAL = 70  #: a bug in warpcli (EX_SOFTWARE): one line; WARPCLI_DEBUG=1 or --debug shows the traceback
    INTERRUPTED = 130  #: Ctrl-C (SIGINT), as shells report a process that SIGINT ended (128 + 2)


def exit_code_for(exc: BaseException) -> ExitCode:
    if isinstance(exc, errors.BulkImportError):
        return ExitCode.CONFLICT if exc.conflict else ExitCode.USAGE
    from warpcli.host.errors import NotRoot

    if isinstance(exc, NotRoot):
        return ExitCode.PERMISSION
    for kind, code in (
        (errors.InvalidInput, ExitCode.USAGE),
        (errors.ConfigError, ExitCode.USAGE),
        (errors.NotFound, ExitCode.NOT_FOUND),
        (errors.Conflict, ExitCode.CONFLICT),
        (errors.StateError, ExitCode.STATE),
        (errors.AuthError, ExitCode.AUTH),
        (errors.Unavailable, ExitCode.UNAVAILABLE),
        (Interrupted, ExitCode.INTERRUPTED),
    ):
        if isinstance(exc, kind):
            return code
    return ExitCode.ERROR
