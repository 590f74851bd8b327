"""The Cloudflare API v4 controller (also for any server of the same dialect, e.g. `warpcli controller serve`)."""

from warpcli.controllers.cloudflare.controller import CloudflareController, valid_account_id
from warpcli.controllers.cloudflare.transport import DEFAULT_API_URL, ApiClient, RetryPolicy

__all__ = ["DEFAULT_API_URL", "ApiClient", "CloudflareController", "RetryPolicy", "valid_account_id"]
