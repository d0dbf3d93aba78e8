"""Who may run a command here: moderators of a channel, of the whole bot, or everyone.

Any member of a channel can type a slash command, so these checks are wirewatch's own; the
adapter only says what the platform knows of the user (`Invocation.platform_admin`,
`bot_admin`, `roles`) and how a refusal should name the moderators.

Deliberately not here: asking a platform who is an admin (adapters do, only for commands
that need it), and what a command does.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.commands.grammar import SUBCOMMANDS, Invocation, Reply, Subcommand, moderator_needed

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

PUBLIC = ", ".join(
    f"{s.name} {s.synopsis.strip('[]')}" if s.public_with_args else s.name
    for s in SUBCOMMANDS
    if not s.moderator_only or s.public_with_args
)


def rights_mark(sub: Subcommand) -> str:
    """Who may use `sub`, as help lines show it."""
    if sub.bot_wide:
        return " (moderators of the whole bot)"
    if sub.public_with_args:  # `digest`: posting is the moderators', a recap anyone's
        return " (posting: moderators)"
    return " (moderators)" if sub.moderator_only else ""


def is_moderator(settings: Settings, inv: Invocation, *, bot_wide: bool = False) -> bool:
    """Whether `inv`'s user may change this channel, or with `bot_wide` every channel's
    shared feeds and topics (the config's moderators may do both)."""
    if inv.platform == "console" or inv.bot_admin:
        return True  # the console is the operator's own terminal
    if inv.platform_admin and not bot_wide:
        return True
    platform = getattr(settings, inv.platform, None)
    allowed = set(getattr(platform, "moderators", ()))
    return inv.user in allowed or any(role in allowed for role in inv.roles)


def refusal(settings: Settings, inv: Invocation, sub: Subcommand, rest: str = "") -> Reply | None:
    """Why `sub` (with `rest` after it) may not run here for `inv`'s user, or None when it
    may: only moderators may use it, or it sets up alerts in a channel wirewatch cannot
    post in."""
    if moderator_needed(sub, rest) and not is_moderator(settings, inv, bot_wide=sub.bot_wide):
        return _not_a_moderator(inv, sub)
    if sub.posts_here and inv.cannot_post:
        return Reply(
            f"`{sub.name}`: wirewatch cannot post in this channel: {inv.cannot_post}. "
            "Nothing was changed; run it again once that is fixed",
            ok=False,
        )
    return None


def _not_a_moderator(inv: Invocation, sub: Subcommand) -> Reply:
    log.info("command.refused platform=%s user=%s command=%s", inv.platform, inv.user, sub.name)
    if sub.bot_wide:
        return Reply(
            f"`{sub.name}` changes wirewatch for every channel: only moderators of the "
            f"whole bot may use it: {inv.bot_moderators}. Everyone may use {PUBLIC}.",
            ok=False,
        )
    return Reply(
        f"`{sub.name}`: only moderators may use it: {inv.moderators}. Everyone may use {PUBLIC}.",
        ok=False,
    )
