"""The controller served over HTTP in the Cloudflare API v4 dialect (Flask app on an asyncio + h11 front end).

Needs the ``server`` extra (flask, h11). Nothing in the CLI's normal commands imports
this package.

    app = create_app(open_controller, account_id=..., authorize=...)
    server = make_server(app, "127.0.0.1", 0)   # bound; server.port is the real port
    server.start_in_thread()                     # or server.start() to block
    ...
    server.stop(); close_controllers(app)
"""

from warpcli.server.app import PREFIX, close_controllers, create_app
from warpcli.server.wsgi import make_server, setup_access_log

__all__ = ["PREFIX", "close_controllers", "create_app", "make_server", "setup_access_log"]
