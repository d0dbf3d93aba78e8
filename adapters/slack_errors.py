"""Slack's error codes sorted by what the outbox should do about them, and the
DeliveryError a failed Web API call becomes.

A 429 with its Retry-After and a 5xx are retryable (so is a network error: the adapter's
`_call`); the errors no retry can fix (channel_not_found, not_in_channel, ...: PERMANENT)
are permanent; a refusal of the message itself (msg_too_long, ...: REFUSED) is `refused`:
it fails alone. An error code in none of our lists (Slack adds new ones) is
`SlackError.unlisted`: an alert meeting it is raised as `unknown`, which the outbox retries
within bounds it counts on disk, then fails alone (a digest: bot.digest counts it on disk
too, then takes it as a refusal). Those Slack
documents as passing (PASSING) are retried for as long as they last. A 5xx, or an
internal_error or fatal_error (of which Slack says "it's possible some aspect of the
operation succeeded": AFTER_THE_WORK), may come after Slack posted the message: those are
marked `maybe_posted`.

Deliberately not here: calling Slack, and counting an unknown code's tries (bot.outbox for
an alert, bot.digest for a digest), or looking for a message in doubt (slack_lookups).
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError

from adapters.base import DeliveryError
from bot.errors import Gone

# Errors that no retry fixes: the outbox pauses the channel and tells moderators once.
PERMANENT = {
    "channel_not_found": "the channel does not exist, or it is private and the app was not "
    "invited (/invite @wirewatch)",
    "not_in_channel": "the app is not in the channel (/invite @wirewatch)",
    "is_archived": "the channel is archived",
    "invalid_auth": "the bot token is not valid (check SLACK_BOT_TOKEN)",
    "account_inactive": "the bot token belongs to a deleted user or app",
    "token_revoked": "the bot token was revoked (reinstall the app)",
    "not_authed": "no bot token was sent (check SLACK_BOT_TOKEN)",
    "missing_scope": "the app lacks a permission (reinstall it from config/slack-manifest.yml)",
    "restricted_action": "the workspace does not let the app post in this channel",
    "restricted_action_read_only_channel": "the channel is read-only for the app",
    "restricted_action_thread_only_channel": "the channel takes posts in threads only, and "
    "an alert starts a thread",
    "ekm_access_denied": "the workspace's administrators have suspended posting",
    "team_access_not_granted": "the app has no access to the workspace this channel is in",
    "messages_tab_disabled": "the app's Messages tab is off, so it cannot post in a DM",
    "access_denied": "Slack denies the app access to this channel",
    "no_permission": "the app lacks the permissions to post here",
    "token_expired": "the bot token has expired (reinstall the app, or turn off token rotation)",
}

# Refusals of the bot token itself, not of a channel: pausing the channel they met would
# leave every channel paused (to be subscribed again one by one) once the token is fixed.
# Alerts wait on disk instead, /healthz and /readyz say why, and a restart with a working
# token sends them.
TOKEN_REFUSED = ("invalid_auth", "token_revoked", "token_expired", "account_inactive", "not_authed")
TOKEN_WAIT = 60.0  # how often a waiting channel's oldest alert asks again meanwhile

# Refusals of conversations.history that mean nothing can have been posted there; any other
# (missing_scope, not_in_channel: `chat:write.public` posts without reading) cannot tell.
CHANNEL_GONE = ("Slack channel_not_found:", "Slack is_archived:")

# What each says became of the channel (`DeliveryError.gone`): its notice says the way out.
CHANNEL_GONE_AS: dict[str, Gone] = {"channel_not_found": "missing", "is_archived": "archived"}

# chat.postMessage refusals of a thread whose first message is gone, or that takes no more
# replies (locked, or a message that cannot have a thread): the channel is fine.
THREAD_GONE = (
    "message_not_found",
    "thread_not_found",
    "cannot_reply_to_message",
    "thread_locked",
    "restricted_action_non_threadable_channel",
)

# Refusals of the message itself, not the channel: sent again, it is refused again, so it
# fails alone (bot.outbox) instead of holding every later alert of the channel behind it.
REFUSED = (
    "msg_too_long",
    "no_text",
    "invalid_arguments",
    "invalid_metadata_format",
    "invalid_metadata_schema",
    "metadata_too_large",
    "too_many_attachments",
    "invalid_blocks",
    "invalid_blocks_format",
    "attachment_payload_limit_exceeded",
)

# chat.update errors that no retry fixes for that message (the channel is fine).
EDIT_REFUSED = ("message_not_found", "cant_update_message", "edit_window_closed")

# Errors Slack documents as passing (its common errors: a fault or load on its side, a
# workspace moving into an Enterprise org): retried with the outbox's backoff for as long
# as they last, like a 429 or a 5xx.
PASSING = (
    "ratelimited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
    "team_added_to_org",
)
# Of those, the ones Slack says may come after "some aspect of the operation succeeded":
# a chat.postMessage met by one may have posted, so it is a send in doubt (`maybe_posted`),
# looked for before it is sent again, as after a 5xx.
AFTER_THE_WORK = ("internal_error", "fatal_error")
# An error code in none of the lists here (Slack adds new ones) may pass or may never: an
# alert meeting it is retried with the outbox's backoff, bot.send_errors.UNKNOWN_TRIES times and
# for UNKNOWN_PATIENCE at least (counted on disk, a restart goes on), then fails alone with
# Slack's code as its reason; the channel goes on. Retried for good, it held the channel's
# alerts forever. A digest's are counted on disk too, by bot.digest, on its stories' deliveries.
# History scopes of direct messages, which manifests before this one did not ask for.
DM_HISTORY = ("im:history", "mpim:history")


class SlackError(DeliveryError):
    """A Slack refusal with its error `code` ("" when Slack gave none) and, for
    missing_scope, the scope Slack says was `needed`: what the callers here decide on."""

    def __init__(self, message: str, *, code: str = "", needed: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.code = code
        self.needed = needed

    @property
    def unlisted(self) -> bool:
        """An ok:false code in none of the lists here: one Slack added since they were made."""
        known = (*PERMANENT, *REFUSED, *THREAD_GONE, *EDIT_REFUSED, *PASSING)
        return bool(self.code) and self.code not in known


def _delivery_error(method: str, exc: SlackApiError) -> DeliveryError:
    response = exc.response
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    code = str(data.get("error") or "")
    error = code or f"HTTP {status}"
    if status == 429 or error == "ratelimited":
        retry = _seconds(response.headers.get("Retry-After"))
        return SlackError(
            f"Slack rate limit on {method}; retry in {retry:g}s", code=code, retry_after=retry
        )
    if error in PERMANENT:
        needed = str(data.get("needed") or "") if error == "missing_scope" else ""
        lacks = f" ({needed})" if needed else ""
        return SlackError(
            f"Slack {error}{lacks}: {PERMANENT[error]}",
            code=code,
            needed=needed,
            permanent=True,
            gone=CHANNEL_GONE_AS.get(error, ""),
        )
    if error in REFUSED and status < 500:
        return SlackError(f"Slack {method} refused this message: {error}", code=code, refused=True)
    # A 5xx may come from a proxy or a timeout after Slack did the work, and so may the two
    # errors Slack says so of; any other ok:false it did not.
    return SlackError(
        f"Slack {method} failed: {error}",
        code=code if status < 500 else "",
        maybe_posted=status >= 500 or code in AFTER_THE_WORK,
    )


def _dm_unreadable(channel: str, exc: SlackError) -> bool:
    """missing_scope reading a direct message (an id D…, or Slack naming a DM's history
    scope as the one needed): the scopes an older manifest did not ask for."""
    if exc.code != "missing_scope":
        return False
    needed = {scope.strip() for scope in exc.needed.split(",") if scope.strip()}
    return channel.startswith("D") or bool(needed) and needed <= set(DM_HISTORY)


def _seconds(value: str | None) -> float:
    try:
        return max(1.0, float(value or "1"))
    except ValueError:
        return 30.0
