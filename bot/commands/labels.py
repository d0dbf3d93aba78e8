"""`feedback not-relevant|wrong-story ALERT`: an editor's label on an alert, typed or clicked.

A button under an alert arrives here as the same text a person would type, so clicks and
typed commands are recorded, and answered, one way.

Deliberately not here: what a label means and how it is stored once per person (bot.feedback).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.commands.echo import shown
from bot.commands.grammar import Invocation, Reply, parse
from bot.errors import CommandError
from bot.feedback import MAX_ALERT, alert_number, answer, record_label

# A digest's line shows the same number as an alert does, so both places are named.
WHAT_ALERT_IS = "ALERT is the alert's number (`ref 12` under an alert or on a digest's line: 12)"

if TYPE_CHECKING:
    from sqlite_utils import Database

    from bot.runtime import Runtime


def feedback(db: Database, rt: Runtime, inv: Invocation, rest: str) -> Reply:
    """A button click arrives here as `feedback KIND ALERT`, typed or not; not ok when
    nothing was recorded (an unknown alert, one posted elsewhere or not at all)."""
    kind = parse(inv.text)[0].name.split()[1]
    if not rest:
        raise CommandError(f"{WHAT_ALERT_IS}, and it is missing")
    number = alert_number(rest)
    if number is None or number > MAX_ALERT:
        raise CommandError(f"{WHAT_ALERT_IS}, not `{shown(rest)}`")
    outcome = record_label(
        db, kind, number, platform=inv.platform, user=inv.user, channel=inv.channel
    )
    return Reply(answer(outcome), ok=outcome.recorded)
