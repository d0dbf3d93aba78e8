"""A digest Slack answers with an error code wirewatch does not know (Slack adds new ones):
retried at each digest within the bounds an alert gets (UNKNOWN_TRIES, UNKNOWN_PATIENCE,
counted on disk: a restart goes on counting), then taken as Slack's refusal of the message:
sent in halves, the one story Slack will not take failed with Slack's code as its reason,
and the channel's other stories go on. Real SQLite, feeds on 127.0.0.1, Slack's stand-in
through the real slack_sdk/slack-bolt.

Before the fix, the code was a plain retryable error for a digest: the same oldest stories
were tried at every digest for as long as the bot ran, and nothing behind them went out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.digest import send_digests
from bot.poll_cycle import poll_once
from bot.send_errors import FAULT_ATTEMPTS, UNKNOWN_TRIES
from bot.store import subscriptions
from tests.feedserver import FeedServer
from tests.test_digest import LITHUANIA, _outlet_feed
from tests.test_digest_feedback import ESTONIA, _config, _serve
from tests.test_digest_refused import NK, _statuses
from tests.test_feedback import _settings
from tests.test_slack import ADMIN, NEWS, slack_env
from tests.test_slack_loose_ends import _time_passes

CODE = "message_held_for_review"  # in none of the adapter's lists


async def test_a_story_slack_refuses_with_an_unknown_code_is_failed_alone_after_the_bounds(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """NK's story, then Lithuania's, which Slack answers CODE whenever it is in a message."""
    _serve(feed_server)
    config = _config(tmp_path, feed_server, [f"slack:{NEWS}"])
    async with slack_env(tmp_path, settings=_settings(config)) as env:
        await poll_once(env.rt)
        env.stub.refuse_text("chat.postMessage", "Lithuania", CODE)
        for _ in range(UNKNOWN_TRIES - 1):  # it may pass: the stories wait, none given up
            assert await send_digests(env.rt.db, env.rt.adapters) == 0
            assert set(_statuses(env.rt.db).values()) == {"digest"}
            _time_passes(env.rt.db, 10)  # past the 30 minutes: the tries bound it here
        assert await send_digests(env.rt.db, env.rt.adapters) == 1
        [posted] = [m["text"] for m in env.stub.top_level(NEWS)]
        assert NK in posted and LITHUANIA[0] not in posted
        assert _statuses(env.rt.db) == {NK: "sent", LITHUANIA[0]: "failed"}
        [error] = env.rt.db.execute("SELECT error FROM deliveries WHERE status = 'failed'")
        assert CODE in error[0]
        alone = [c for c in env.stub.calls_to("chat.postMessage") if NK not in c.args["text"]]
        assert len(alone) == FAULT_ATTEMPTS  # found in the same turn, once past the bounds
        [sub] = subscriptions(env.rt.db, f"slack:{NEWS}")
        assert sub.paused_reason is None
        assert CODE in await env.command("status", user=ADMIN)

        later = datetime.now(UTC) - timedelta(minutes=1)
        feed_server.serve("/c", _outlet_feed("c", [(*ESTONIA, later)]))
        await poll_once(env.rt)
        assert await send_digests(env.rt.db, env.rt.adapters) == 1  # the next goes on
        assert ESTONIA[0] in env.stub.top_level(NEWS)[-1]["text"]


async def test_an_unknown_code_that_passes_within_the_bounds_loses_nothing(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """Slack's CODE for a while, then not: every story goes out, none failed. A story come
    since counts its own tries, so CODE later on gets the whole of its bounds again."""
    _serve(feed_server)
    config = _config(tmp_path, feed_server, [f"slack:{NEWS}"])
    async with slack_env(tmp_path, settings=_settings(config)) as env:
        await poll_once(env.rt)
        for story in (None, ESTONIA):  # the stories waiting, then one come since
            if story is not None:
                later = datetime.now(UTC) - timedelta(minutes=1)
                feed_server.serve("/c", _outlet_feed("c", [(*story, later)]))
                await poll_once(env.rt)
            env.stub.fail("chat.postMessage", error=CODE, times=UNKNOWN_TRIES - 1)
            for _ in range(UNKNOWN_TRIES - 1):
                assert await send_digests(env.rt.db, env.rt.adapters) == 0
                _time_passes(env.rt.db, 10)  # past the 30 minutes: the tries bound it here
            assert await send_digests(env.rt.db, env.rt.adapters) == 1
            assert set(_statuses(env.rt.db).values()) == {"sent"}


async def test_a_digest_met_by_an_unknown_code_is_bounded_across_restarts(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    # The tries and the 30 minutes were counted in memory, by the running process: a bot
    # restarted more often than it takes 5 digests (a crash loop, deploys; each start sends
    # the overdue digest at once) met the code at every start as if for the first time, and
    # tried the same stories forever, nothing behind them going out.
    _serve(feed_server)
    config = _config(tmp_path, feed_server, [f"slack:{NEWS}"])
    runs = UNKNOWN_TRIES + FAULT_ATTEMPTS + 2  # a start each 10 minutes: over an hour in all
    for run in range(runs):
        async with slack_env(tmp_path, settings=_settings(config)) as env:  # a new process
            env.stub.refuse_text("chat.postMessage", "Lithuania", CODE)
            if run == 0:
                await poll_once(env.rt)
            await send_digests(env.rt.db, env.rt.adapters)
            statuses = _statuses(env.rt.db)
            posted = [m["text"] for m in env.stub.top_level(NEWS)]
            errors = [r[0] for r in env.rt.db.execute("SELECT error FROM deliveries")]
            _time_passes(env.rt.db, 10)
        if "failed" in statuses.values():
            break
    assert statuses == {NK: "sent", LITHUANIA[0]: "failed"}, f"still tried after {runs} starts"
    assert run + 1 == UNKNOWN_TRIES  # 5 digests over 40 minutes, then given up
    assert len(posted) == 1 and NK in posted[0]  # the channel's other story went on
    [error] = [e for e in errors if e and CODE in e]  # the failed one's: the reason it failed
    assert "an error wirewatch does not know" in error and "over 40 min" in error


async def test_a_pause_starts_a_digests_unknown_code_bounds_again(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    # A digest's stories wait through a pause as they are: met by the code 5 times in
    # minutes (moderators asking for `digest`), then the channel paused (the app removed
    # from it) and resumed two days later, they were taken as refused at the first digest
    # after the resume, with no more tries and no 30 minutes: the pause counted as patience
    # (an alert's count starts again at a pause).
    _serve(feed_server)
    config = _config(tmp_path, feed_server, [f"slack:{NEWS}"])
    async with slack_env(tmp_path, settings=_settings(config)) as env:
        await poll_once(env.rt)
        env.stub.fail("chat.postMessage", error=CODE, times=UNKNOWN_TRIES)
        for _ in range(UNKNOWN_TRIES):  # within the patience: they wait
            assert await send_digests(env.rt.db, env.rt.adapters) == 0
        env.stub.fail("chat.postMessage", error="not_in_channel")
        assert await send_digests(env.rt.db, env.rt.adapters) == 0
        [sub] = subscriptions(env.rt.db, f"slack:{NEWS}")
        assert sub.paused_reason is not None
        _time_passes(env.rt.db, 2 * 24 * 60)
        await env.command("subscribe troop-deployments digest", user=ADMIN)  # resumed
        [sub] = subscriptions(env.rt.db, f"slack:{NEWS}")
        assert sub.paused_reason is None
        env.stub.refuse_text("chat.postMessage", "Lithuania", CODE)
        assert await send_digests(env.rt.db, env.rt.adapters) == 0
        statuses = _statuses(env.rt.db)
        assert set(statuses.values()) == {"digest"}, f"given up at once: {statuses}"


async def test_a_story_failed_for_an_unknown_code_says_in_how_many_digests_it_met_it(
    tmp_path: Path, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The reason counted every message that held the story and met the code: the digest's
    # halves and the story sent alone in the turn that found it. After 5 digests over 40
    # minutes a moderator read "8 times over 40 min" (5 digests, then 3 sends alone), more
    # tries than the bounds give, and nothing said they were messages, not digests.
    _serve(feed_server)
    later = datetime.now(UTC) - timedelta(minutes=45)
    feed_server.serve("/c", _outlet_feed("c", [(*ESTONIA, later)]))  # a third story
    config = _config(tmp_path, feed_server, [f"slack:{NEWS}"])
    async with slack_env(tmp_path, settings=_settings(config)) as env:
        await poll_once(env.rt)
        env.stub.refuse_text("chat.postMessage", "Lithuania", CODE)
        for _ in range(UNKNOWN_TRIES - 1):
            assert await send_digests(env.rt.db, env.rt.adapters) == 0
            _time_passes(env.rt.db, 10)
        said = await env.command("digest", user=ADMIN)  # the 5th: past both bounds
        held = [c for c in env.stub.calls_to("chat.postMessage") if "Lithuania" in c.args["text"]]
        assert len(held) == UNKNOWN_TRIES + FAULT_ATTEMPTS  # the last digest sent it alone too
        assert _statuses(env.rt.db) == {NK: "sent", LITHUANIA[0]: "failed", ESTONIA[0]: "sent"}
        [error] = env.rt.db.execute("SELECT error FROM deliveries WHERE status = 'failed'")
        told = f"an error wirewatch does not know, in {UNKNOWN_TRIES} digests over 40 min"
        assert told in error[0], error[0]
        assert told in said, said
    # The log, once the code is first met, said the digest fails with it: only the story
    # Slack refuses alone did, the channel's others went out.
    [logged] = [r.getMessage() for r in caplog.records if "slack.unknown_error" in r.msg]
    assert "the digest fails" not in logged and "the others go out" in logged, logged
