"""The Slack adapter end to end: the real bolt app in HTTP mode, signed requests built the way
Slack builds them, and tests/slackstub.py standing in for the Web API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.web.async_client import AsyncWebClient

from adapters import slack_render as render
from adapters.slack_app import SlackAdapter, slack_from_env
from bot.clock import iso, utcnow
from bot.commands import SUBCOMMANDS, Commands
from bot.demo.server import serve_demo
from bot.digest import send_digests
from bot.edits import word_diff
from bot.errors import ConfigError, DeliveryError
from bot.feed_store import list_feeds
from bot.model import Alert, Corroboration, Edit, Source
from bot.outbox import deliver_pending
from bot.poll_cycle import poll_once
from bot.runtime import Runtime
from bot.settings import Settings
from bot.startup import open_runtime
from bot.store import subscriptions
from tests.feedserver import FeedServer
from tests.runtime import DEMO_DISTRACTORS
from tests.slackstub import APP_TOKEN, SIGNING_SECRET, TOKEN, SlackStub, signed_command
from tests.test_commands import NK_FEED, NK_TITLE, rss

ROOT = Path(__file__).resolve().parent.parent
NEWS, ADMIN, MEMBER, MOD = "C0NEWS", "U0ADMIN", "U0MEMBER", "U0MOD"
PINGS = (
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123>",
    "<!subteam",
    "<https://evil",
    "<javascript",
)


@dataclass
class Env:
    stub: SlackStub
    rt: Runtime
    adapter: SlackAdapter
    url: str
    http: aiohttp.ClientSession

    async def post(self, body: bytes, headers: dict[str, str]) -> aiohttp.ClientResponse:
        async with self.http.post(self.url, data=body, headers=headers) as response:
            await response.read()
            return response

    async def command(self, text: str, user: str = ADMIN, channel: str = NEWS) -> str:
        """Run /wirewatch as Slack would; the reply from the ack, or later via response_url."""
        return "\n".join(await self.replies(text, user, channel))

    async def replies(self, text: str, user: str = ADMIN, channel: str = NEWS) -> list[str]:
        """The reply's messages: the ack's, or each response_url post (at most 5, as Slack
        takes) once they stop coming; an empty ack shows nothing."""
        key = f"r{len(self.stub.responses)}-{time.monotonic_ns()}"
        body, headers = signed_command(
            text, user=user, channel=channel, response_url=self.stub.response_url(key)
        )
        started = time.monotonic()
        async with self.http.post(self.url, data=body, headers=headers) as response:
            assert response.status == 200
            answer = json.loads(await response.text() or "{}")
        assert time.monotonic() - started < 3.0  # Slack gives up after 3 s
        if answer:
            assert answer["response_type"] == "ephemeral"
            if answer["text"] != "Working on it…":
                return [answer["text"]]
        got: list[dict[str, Any]] = []
        for _ in range(300):
            now = [payload for got_key, payload in self.stub.responses if got_key == key]
            if now and len(now) == len(got):
                break
            got = now
            await asyncio.sleep(0.1)
        assert got, "no reply through response_url"
        assert len(got) <= 5, "a response_url takes 5 posts"
        assert all(payload["response_type"] == "ephemeral" for payload in got)
        return [payload["text"] for payload in got]


def settings_for(tmp_path: Path, *, allow_private: bool = True) -> Settings:
    return Settings.model_validate(
        {
            "database": str(tmp_path / "w.db"),
            "network": {"allow_private_addresses": allow_private},
            "slack": {"moderators": [MOD]},
        }
    )


@asynccontextmanager
async def slack_env(
    tmp_path: Path,
    *,
    allow_private: bool = True,
    pace: float = 0.0,
    settings: Settings | None = None,
) -> AsyncIterator[Env]:
    async with SlackStub() as stub:
        stub.add_channel(NEWS, "news")
        stub.add_user(ADMIN, admin=True)
        stub.add_user(MEMBER)
        stub.add_user(MOD)
        client = AsyncWebClient(token=TOKEN, base_url=stub.api_url, retry_handlers=[])
        adapter = SlackAdapter(
            client, signing_secret=SIGNING_SECRET, pace=pace, notice_users=(MOD,)
        )
        async with open_runtime(
            settings or settings_for(tmp_path, allow_private=allow_private), {"slack": adapter}
        ) as rt:
            await adapter.start(Commands(rt).handle)
            app = web.Application()
            app.add_routes(adapter.routes())
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
            try:
                async with aiohttp.ClientSession() as http:
                    yield Env(stub, rt, adapter, url, http)
            finally:
                await adapter.stop()
                await runner.cleanup()


def sent_json(call) -> str:
    return json.dumps(call.args, ensure_ascii=False)


# -- requests: signatures and rights --------------------------------------------------------


async def test_unsigned_badly_signed_and_stale_requests_get_401(tmp_path: Path) -> None:
    async with slack_env(tmp_path) as env:
        body, headers = signed_command(
            "subscribe troop-deployments",
            user=ADMIN,
            channel=NEWS,
            response_url=env.stub.response_url(),
        )
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        wrong, wrong_headers = signed_command(
            "subscribe troop-deployments",
            user=ADMIN,
            channel=NEWS,
            secret="not-the-secret",
            response_url=env.stub.response_url(),
        )
        stale, stale_headers = signed_command(
            "subscribe troop-deployments",
            user=ADMIN,
            channel=NEWS,
            timestamp=int(time.time()) - 301,
            response_url=env.stub.response_url(),
        )
        cases = [
            (body, form),  # unsigned
            (wrong, wrong_headers),
            (stale, stale_headers),
            (body + b"&text=status", headers),  # body changed after signing
            (body, {**headers, "X-Slack-Request-Timestamp": "not-a-number"}),
            (body, {**headers, "X-Slack-Signature": "v0=zz"}),
            (b"\xff\xfe", {**headers}),
        ]
        for data, hdrs in cases:
            assert (await env.post(data, hdrs)).status == 401
        assert env.stub.calls == []  # nothing ran: not even the admin lookup
        assert subscriptions(env.rt.db) == []
        assert (await env.post(body, headers)).status == 200  # the same request, signed


async def test_a_plain_member_is_refused_changes(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.serve("/feed", NK_FEED)
    async with slack_env(tmp_path) as env:
        for text in (
            "subscribe troop-deployments",
            f"feeds add {feed_server.url('/feed')}",
            "topic add mine troops",
            "mute 1h",
        ):
            reply = await env.command(text, user=MEMBER)
            assert "only moderators" in reply and "may use it" in reply
            assert "Slack workspace admins and owners" in reply
        assert subscriptions(env.rt.db) == [] and list_feeds(env.rt.db) == []
        assert feed_server.requests == []
        assert [c.args["user"] for c in env.stub.calls_to("users.info")] == [MEMBER] * 4
        assert "`troop-deployments`" in await env.command("topics", user=MEMBER)
        assert env.stub.calls_to("users.info")[-1].args["user"] == MEMBER  # no lookup for topics
        assert len(env.stub.calls_to("users.info")) == 4
        # Listed under slack.moderators without being a workspace admin: allowed.
        assert "now gets" in await env.command("subscribe troop-deployments", user=MOD)


async def test_a_failed_admin_lookup_says_so_and_listed_moderators_need_none(
    tmp_path: Path,
) -> None:
    """users.info rate limited or refused (users:read dropped from the app): a workspace
    admin is told the real cause, not "only moderators may use it"; a user listed under
    slack.moderators is allowed without asking Slack at all."""
    async with slack_env(tmp_path) as env:
        env.stub.fail("users.info", status=429, retry_after=30)
        limited = await env.command("subscribe troop-deployments", user=ADMIN)
        assert "could not check your rights with Slack" in limited and "rate limit" in limited
        assert "retry in 30s" in limited and "only moderators" not in limited
        env.stub.fail("users.info", error="missing_scope")
        scope = await env.command("subscribe troop-deployments", user=ADMIN)
        assert "users:read" in scope and "config/slack-manifest.yml" in scope
        assert subscriptions(env.rt.db) == []
        env.stub.fail("users.info", error="missing_scope", times=5)
        assert "now gets" in await env.command("subscribe troop-deployments", user=MOD)
        assert "added topic" in await env.command("topic add mine troops", user=MOD)
        assert [c.args["user"] for c in env.stub.calls_to("users.info")] == [ADMIN, ADMIN]


async def test_subscribe_where_the_app_cannot_post_asks_for_an_invitation(tmp_path: Path) -> None:
    """Slack sends /wirewatch from any conversation: a private channel the app is not in
    (conversations.info: channel_not_found) or an archived one is refused; a public one it is
    not in is fine (chat:write.public), and so is an install without channels:read."""
    async with slack_env(tmp_path) as env:
        env.stub.add_channel("C0PRIV", "desk", member=False, private=True)
        env.stub.add_channel("C0PUB", "public", member=False)
        env.stub.add_channel("C0OLD", "old", archived=True)
        refused = await env.command("subscribe troop-deployments", channel="C0PRIV")
        assert "cannot post in this channel" in refused and "/invite @wirewatch" in refused
        archived = await env.command("subscribe troop-deployments", channel="C0OLD")
        assert "archived" in archived
        assert subscriptions(env.rt.db) == []
        assert "now gets" in await env.command("subscribe troop-deployments", channel="C0PUB")
        env.stub.fail("conversations.info", error="missing_scope")
        assert "now gets" in await env.command("subscribe troop-deployments")
        assert "now gets" not in await env.command("unsubscribe troop-deployments")
        assert len(env.stub.calls_to("conversations.info")) == 4  # subscribe alone asks


async def test_subscribe_in_a_direct_message_with_the_app_is_taken_and_alerted_there(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The app's own DM (its Messages tab) and a group DM it is in: Slack's conversations.info
    says `is_im` / `is_mpim` and no `is_member` (only channels have it), and `subscribe`
    there was refused with "the app is not in this conversation: /invite @wirewatch" (no
    one can invite an app into its own DM). A DM between people is still refused."""
    async with slack_env(tmp_path) as env:
        env.stub.add_channel("D0APP", "dm", kind="im")
        env.stub.add_channel("G0GROUP", "group", kind="mpim")
        for where in ("D0APP", "G0GROUP"):
            assert "now gets" in await env.command("subscribe troop-deployments", channel=where)
        between_people = await env.command("subscribe troop-deployments", channel="D0PEOPLE")
        assert "/invite @wirewatch" in between_people
        feed_server.serve("/feed", NK_FEED)
        await env.command(f"feeds add {feed_server.url('/feed')}", channel="D0APP")
        await poll_once(env.rt)
        assert len(env.stub.posts("D0APP")) == 1 and len(env.stub.posts("G0GROUP")) == 1
        assert [s.channel for s in subscriptions(env.rt.db)] == ["slack:D0APP", "slack:G0GROUP"]


# -- the whole path: chat setup, poll, alerts ---------------------------------------------


async def test_admin_sets_up_from_chat_and_a_story_becomes_one_alert_with_a_thread(
    tmp_path: Path,
) -> None:
    async with serve_demo() as demo, slack_env(tmp_path) as env:
        reply = await env.command("subscribe troop-deployments")
        assert "this channel now gets `troop-deployments` alerts (instant)" in reply
        for feed in demo:
            reply = await env.command(f"feeds add {feed.url} {feed.name}")
            assert f"added `{feed.name}`" in reply and "items stored" in reply, reply
        assert {f.name for f in list_feeds(env.rt.db)} == {f.name for f in demo}

        _, stats = await poll_once(env.rt)
        assert stats.retried == 0 and stats.failed == 0

        top = env.stub.top_level(NEWS)
        nk = [m for m in top if "troops to Russia" in m["text"]]
        assert len(nk) == 1, [m["text"] for m in top]
        parent = nk[0]
        assert parent["text"].startswith("[troop-deployments] (LEAD) N. Korea has sent")
        assert parent["blocks"][0]["type"] == "section"
        assert "Yonhap News Agency" in json.dumps(parent["blocks"])
        delivery = env.rt.db.execute(
            "SELECT id, story_id FROM deliveries WHERE message_id = ?", [parent["ts"]]
        ).fetchone()
        assert parent["metadata"] == {
            "event_type": "wirewatch_alert",
            "event_payload": {"delivery_id": delivery[0], "story_id": delivery[1]},
        }

        thread = env.stub.replies(NEWS, parent["ts"])
        outlets = sorted(m["blocks"][0]["text"]["text"].split(":*")[0] for m in thread)
        assert outlets == ["*Update from Al Jazeera", "*Update from The Moscow Times"]
        # The first message now lists every source.
        [sources] = [
            b["text"]["text"] for b in parent["blocks"] if "Sources (" in json.dumps(b.get("text"))
        ]
        for outlet in ("Yonhap News Agency", "Al Jazeera", "The Moscow Times"):
            assert outlet in sources
        assert len(env.stub.calls_to("chat.update")) >= 2
        # Why it fired, as an editor reads it: the words that fired and the score; the model's
        # features (bar, encoder, weights) are for `/wirewatch test`.
        contexts = [
            e["text"] for b in parent["blocks"] if b["type"] == "context" for e in b["elements"]
        ]
        [why] = [t for t in contexts if t.startswith("Topic ")]
        assert re.fullmatch(
            r'Topic `troop-deployments`: "troops" in the title; .* · relevance 0\.\d\d', why
        )
        assert not re.search(r"bar 0\.|encoder|[+-]\d\.\d\b", json.dumps(parent["blocks"]))

        # Distractors (a rate cut, a concert tour, a 5G rollout, a phishing title) stay out.
        everything = json.dumps([c.args for c in env.stub.calls])
        for distractor in DEMO_DISTRACTORS:
            assert distractor not in everything
        for call in env.stub.posts():
            assert call.encoding == "json"
            assert call.args["unfurl_links"] is False and call.args["unfurl_media"] is False
            assert "link_names" not in call.args and "parse" not in call.args

        posted = len(env.stub.posts())
        await poll_once(env.rt)
        assert len(env.stub.posts()) == posted  # nothing posted twice


async def test_hostile_titles_never_ping_or_forge_links(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    title = (
        "<!channel> North Korea has sent more troops to Russia <@U123> "
        "<https://evil.example|click here> <!subteam^S0TEAM> & more"
    )
    summary = "<!here> Pyongyang sent soldiers to Kursk, <!everyone> says Seoul."
    # The description is HTML: escaped twice, its text (not markup) says <!here>.
    body = rss(
        [(html.escape(title), html.escape(html.escape(summary)))],
        title="Hostile &lt;@U123&gt; Wire",
    )
    feed_server.serve("/feed", body.replace("https://news.example/0", "javascript:alert(1)"))
    async with slack_env(tmp_path) as env:
        await env.command("subscribe troop-deployments")
        # Slack wraps typed links as <url|label>; the command still gets the URL.
        url = feed_server.url("/feed")
        reply = await env.command(f"feeds add <{url}|{url}>")
        assert "Hostile &lt;@U123&gt; Wire" in reply  # the feed's own title, escaped
        await poll_once(env.rt)
        [call] = env.stub.posts(NEWS)
        escaped = (
            "&lt;!channel&gt; North Korea has sent more troops to Russia &lt;@U123&gt; "
            "&lt;https://evil.example|click here&gt; &lt;!subteam^S0TEAM&gt; &amp; more"
        )
        assert call.args["text"] == f"[troop-deployments] {escaped} (Hostile &lt;@U123&gt; Wire)"
        # A javascript: link is not a link: the headline is bold text, not <url|...>.
        assert call.args["blocks"][0]["text"]["text"] == f"*{escaped}*"
        for ping in PINGS:
            assert ping not in sent_json(call)


# -- delivery failures ---------------------------------------------------------------------


async def subscribed_with_one_story(env: Env, feed_server: FeedServer, channel: str = NEWS) -> None:
    feed_server.serve("/feed", NK_FEED)
    await env.command("subscribe troop-deployments", channel=channel)
    await env.command(f"feeds add {feed_server.url('/feed')}", channel=channel)


async def test_429_waits_as_long_as_slack_asks_and_loses_nothing(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    async with slack_env(tmp_path) as env:
        await subscribed_with_one_story(env, feed_server)
        env.stub.fail("chat.postMessage", status=429, retry_after=7)
        _, stats = await poll_once(env.rt)
        assert stats.retried == 1 and env.stub.posts() == []
        status, next_attempt, error = env.rt.db.execute(
            "SELECT status, next_attempt, error FROM deliveries"
        ).fetchone()
        assert status == "pending" and "rate limit" in error
        assert next_attempt >= iso(utcnow() + timedelta(seconds=6))
        assert (await deliver_pending(env.rt.db, env.rt.adapters)).sent == 0  # not due yet
        env.rt.db.execute("UPDATE deliveries SET next_attempt = ?", [iso(utcnow())])
        assert (await deliver_pending(env.rt.db, env.rt.adapters)).sent == 1
        assert len(env.stub.posts(NEWS)) == 1


async def test_a_first_message_refused_its_new_source_is_rewritten_later(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    # Rate limited on chat.update, the first message named one outlet of two for good: no
    # later update or corroboration mark (Yonhap's copy twice is one outlet) rewrote it.
    lead = "SEOUL, Dec. 2 (Yonhap) -- Pyongyang has sent more soldiers to the Kursk front."
    async with slack_env(tmp_path) as env:
        feed_server.serve("/one", rss([(NK_TITLE, lead)], title="Daily One"))
        rewrite = "SEOUL, Dec. 2 (Yonhap) -- North Korea dispatched additional troops to Kursk."
        two = "N. Korea sends more soldiers to Russia's Kursk front: Seoul"
        other_site = rss([(two, rewrite)], title="Daily Two").replace("news.example", "two.example")
        feed_server.serve("/two", other_site)
        await env.command("subscribe troop-deployments")
        await env.command(f"feeds add {feed_server.url('/one')}")
        await poll_once(env.rt)
        [parent] = env.stub.top_level(NEWS)
        await env.command(f"feeds add {feed_server.url('/two')}")
        env.stub.fail("chat.update", status=429, retry_after=1)
        await poll_once(env.rt)
        assert len(env.stub.replies(NEWS, parent["ts"])) == 1
        env.rt.db.execute(
            "UPDATE deliveries SET next_attempt = ? WHERE status = 'pending'", [iso(utcnow())]
        )
        await deliver_pending(env.rt.db, env.rt.adapters)
        [parent] = env.stub.top_level(NEWS)
        assert "Daily Two" in json.dumps(parent["blocks"])
        assert len(env.stub.replies(NEWS, parent["ts"])) == 1  # the update not sent twice
        open_ = "SELECT count(*) FROM deliveries WHERE status NOT IN ('sent', 'cancelled')"
        assert env.rt.db.execute(open_).fetchone()[0] == 0


async def test_adapter_turns_slack_errors_into_delivery_errors(tmp_path: Path) -> None:
    async with slack_env(tmp_path) as env:
        env.stub.fail("chat.postMessage", status=429, retry_after=7)
        with pytest.raises(DeliveryError) as rate:
            await env.adapter.post_alert(NEWS, make_alert(1))
        assert rate.value.retry_after == 7 and not rate.value.permanent
        assert not rate.value.maybe_posted  # a 429 is a refusal: nothing was posted
        env.stub.fail("chat.postMessage", status=503)
        with pytest.raises(DeliveryError) as down:
            await env.adapter.post_alert(NEWS, make_alert(2))
        assert not down.value.permanent and down.value.retry_after is None
        assert down.value.maybe_posted  # a 5xx can come after the work was done
        for error in (
            "channel_not_found",
            "not_in_channel",
            "is_archived",
            "restricted_action_read_only_channel",  # these four were retried for good,
            "restricted_action_thread_only_channel",  # holding the channel's later alerts
            "ekm_access_denied",
            "team_access_not_granted",
        ):  # a refused token is no channel's: test_slack_outages.py
            env.stub.fail("chat.postMessage", error=error)
            with pytest.raises(DeliveryError) as gone:
                await env.adapter.post_alert(NEWS, make_alert(3))
            assert gone.value.permanent and error in str(gone.value)
        env.stub.fail("chat.postMessage", error="service_unavailable")
        with pytest.raises(DeliveryError) as odd:
            await env.adapter.post_alert(NEWS, make_alert(4))
        assert not odd.value.permanent and not odd.value.maybe_posted
        env.stub.fail("chat.postMessage", error="internal_error")  # "some aspect ... succeeded"
        with pytest.raises(DeliveryError) as odd:
            await env.adapter.post_alert(NEWS, make_alert(5))
        assert not odd.value.permanent and odd.value.maybe_posted  # looked for before resent
        assert env.stub.posts() == []


async def test_network_errors_are_retryable() -> None:
    client = AsyncWebClient(token=TOKEN, base_url="http://127.0.0.1:9/api/", retry_handlers=[])
    adapter = SlackAdapter(client, signing_secret=SIGNING_SECRET, pace=0)
    await adapter.start(None)
    try:
        with pytest.raises(DeliveryError) as failed:
            await adapter.post_alert(NEWS, make_alert(1))
        assert not failed.value.permanent
        assert not failed.value.maybe_posted  # never connected: nothing can have been posted
    finally:
        await adapter.stop()


async def test_5xx_is_retried_by_the_outbox(tmp_path: Path, feed_server: FeedServer) -> None:
    async with slack_env(tmp_path) as env:
        await subscribed_with_one_story(env, feed_server)
        env.stub.fail("chat.postMessage", status=500, times=2)
        for _ in range(2):
            _, stats = await poll_once(env.rt)
            assert stats.retried == 1
            env.rt.db.execute("UPDATE deliveries SET next_attempt = ?", [iso(utcnow())])
        await poll_once(env.rt)
        assert len(env.stub.posts(NEWS)) == 1
        assert env.rt.db.execute("SELECT status, attempts FROM deliveries").fetchone() == (
            "sent",
            3,
        )


async def test_a_missing_channel_is_paused_and_moderators_told_once(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    gone = "C0GONE"
    async with slack_env(tmp_path) as env:
        await env.command("subscribe troop-deployments")
        env.stub.add_channel(gone, "doomed")
        await subscribed_with_one_story(env, feed_server, channel=gone)
        del env.stub.channels[gone]  # deleted after it was subscribed
        await poll_once(env.rt)  # `feeds add` may have delivered already: check what is stored
        statuses = dict(env.rt.db.execute("SELECT channel, status FROM deliveries").fetchall())
        assert statuses == {f"slack:{NEWS}": "sent", f"slack:{gone}": "held"}
        assert len(env.stub.posts(NEWS)) == 1
        [sub] = subscriptions(env.rt.db, f"slack:{gone}")
        assert "channel_not_found" in (sub.paused_reason or "")
        [notice] = env.stub.posts(MOD)  # the channel itself cannot hear it: a DM instead
        assert f"slack:{gone}" in notice.args["text"] and "channel_not_found" in notice.args["text"]

        later = rss([("North Korea sends yet more troops to Russia", "A third wave.")])
        later = later.replace("<guid>g0</guid>", "<guid>g9</guid>").replace(
            "example/0<", "example/9<"
        )
        feed_server.serve("/feed", later)  # another article (a link of its own)
        await poll_once(env.rt)
        assert len(env.stub.posts(MOD)) == 1  # told once
        held = env.rt.db.execute(
            "SELECT count(*) FROM deliveries WHERE channel = ? AND status = 'held'",
            [f"slack:{gone}"],
        ).fetchone()[0]
        assert held == 2  # the alert that met the refusal waits too: nothing is lost

        env.stub.add_channel(gone, "restored")
        reply = await env.command("subscribe troop-deployments", channel=gone)
        assert "2 alerts held while the channel was paused will now go out" in reply
        await poll_once(env.rt)
        posts = env.stub.posts(gone)
        assert len(posts) == 2 and "thread_ts" not in posts[0].args
        assert posts[1].args.get("thread_ts")  # the later report, in the story's thread


async def test_messages_are_paced_per_channel(tmp_path: Path) -> None:
    async with slack_env(tmp_path, pace=0.3) as env:
        env.stub.add_channel("C0OTHER")
        for i in range(3):
            await env.adapter.post_alert(NEWS, make_alert(i + 1))
        await env.adapter.post_alert("C0OTHER", make_alert(9))
        times = [c.at for c in env.stub.posts(NEWS)]
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert all(g >= 0.28 for g in gaps), gaps
        other = env.stub.posts("C0OTHER")[0].at - times[-1]
        assert other < 0.25  # another channel does not wait for this one


# -- restarts ------------------------------------------------------------------------------


async def test_find_posted_finds_alerts_and_thread_updates(tmp_path: Path) -> None:
    async with slack_env(tmp_path) as env:
        first = await env.adapter.post_alert(NEWS, make_alert(41))
        update = await env.adapter.post_update(first, make_alert(42, kind="update"))
        await env.adapter.post_alert(NEWS, make_alert(43))
        assert await env.adapter.find_posted(NEWS, 41) == first
        assert await env.adapter.find_posted(NEWS, 42) == update
        assert update.thread_id == first.message_id
        assert await env.adapter.find_posted(NEWS, 99) is None
        assert await env.adapter.find_posted("C0NOPE", 41) is None
        assert all(
            str(c.args.get("include_all_metadata")).lower() in ("1", "true")
            for c in env.stub.calls_to("conversations.history")
        )


async def test_find_posted_looks_in_an_old_storys_thread_first(tmp_path: Path) -> None:
    # Only the twenty newest threads are scanned: a lost update in an older story's thread
    # was not found, and would have been posted twice.
    async with slack_env(tmp_path) as env:
        old = await env.adapter.post_alert(NEWS, make_alert(31))
        update = await env.adapter.post_update(old, make_alert(32, kind="update"))
        for n in range(21):  # newer stories, each with a thread
            parent = await env.adapter.post_alert(NEWS, make_alert(100 + 2 * n))
            await env.adapter.post_update(parent, make_alert(101 + 2 * n, kind="update"))
        assert await env.adapter.find_posted(NEWS, 32) is None  # past the scan
        assert await env.adapter.find_posted(NEWS, 32, old) == update


async def test_an_update_goes_to_the_channel_when_the_first_message_was_deleted(
    tmp_path: Path,
) -> None:
    # Retried, Slack's refusal would hold every later alert of the channel behind it.
    async with slack_env(tmp_path) as env:
        first = await env.adapter.post_alert(NEWS, make_alert(51))
        messages = env.stub.channels[NEWS].messages
        messages[:] = [m for m in messages if m["ts"] != first.message_id]  # a moderator
        update = await env.adapter.post_update(first, make_alert(52, kind="update"))
        assert update.thread_id is None and update.channel == NEWS
        assert [m["ts"] for m in env.stub.top_level(NEWS)] == [update.message_id]
        assert await env.adapter.find_posted(NEWS, 52) == update


async def test_a_send_interrupted_by_a_crash_is_not_posted_twice(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    async with slack_env(tmp_path) as env:
        await subscribed_with_one_story(env, feed_server)
        await poll_once(env.rt)
        [posted] = env.stub.posts(NEWS)
        # Crash between Slack's answer and mark_sent: the row is still 'claimed'.
        env.rt.db.execute("UPDATE deliveries SET status = 'claimed', message_id = NULL")
        await poll_once(env.rt)
        assert len(env.stub.posts(NEWS)) == 1
        assert env.rt.db.execute("SELECT status, message_id FROM deliveries").fetchone() == (
            "sent",
            posted.answer["ts"],
        )


async def test_a_digest_refused_by_a_429_waits_then_goes_out_once_escaped(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A digest is no notice: a rate limit must not mark it sent (nor send it to moderators
    instead), and the feed text in it is escaped like an alert's."""
    title = "<!channel> North Korea has sent more troops to Russia <@U123> & more"
    feed_server.serve("/feed", rss([(html.escape(title), "Seoul says so.")]))
    async with slack_env(tmp_path) as env:
        await env.command("subscribe troop-deployments digest")
        await env.command(f"feeds add {feed_server.url('/feed')}")
        await poll_once(env.rt)
        assert env.stub.posts(NEWS) == []  # a digest channel waits
        env.stub.fail("chat.postMessage", status=429, retry_after=7)
        assert await send_digests(env.rt.db, env.rt.adapters) == 0
        assert env.stub.posts() == []  # nor to a moderator's DMs
        assert env.rt.db.execute("SELECT DISTINCT status FROM deliveries").fetchall() == [
            ("digest",)
        ]
        assert await send_digests(env.rt.db, env.rt.adapters) == 1
        [call] = env.stub.posts(NEWS)
        assert "&lt;!channel&gt; North Korea has sent more troops" in call.args["text"]
        assert "&amp; more" in call.args["text"]
        for ping in PINGS:
            assert ping not in sent_json(call)
        # A restart that finds it claimed (a crash before the mark) asks Slack, by its key.
        key = env.rt.db.execute("SELECT min(id) FROM deliveries").fetchone()[0]
        env.rt.db.execute("UPDATE deliveries SET status = 'claimed'")
        assert await send_digests(env.rt.db, env.rt.adapters) == 0
        assert len(env.stub.posts(NEWS)) == 1
        assert await env.adapter.find_posted(NEWS, key) is not None
        assert env.rt.db.execute("SELECT DISTINCT status FROM deliveries").fetchall() == [("sent",)]


async def test_a_digest_s_headlines_cannot_turn_other_lines_into_code_or_strike_them(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    items = [
        ("North Korea has sent more troops to Russia ```", "Seoul says so."),
        ("Poland deploys ~troops~ *soldiers* to the border ```", "Warsaw says so."),
    ]
    feed_server.serve("/feed", rss(items))
    async with slack_env(tmp_path) as env:
        await env.command("subscribe troop-deployments digest")
        await env.command(f"feeds add {feed_server.url('/feed')}")
        await poll_once(env.rt)
        assert await send_digests(env.rt.db, env.rt.adapters) == 1
        [call] = env.stub.posts(NEWS)
    text = call.args["text"]
    assert not set("`~*") & set(text), text
    assert "Poland deploys ∼troops∼ ∗soldiers∗ to the border ˋˋˋ" in text
    assert text.splitlines()[-1].startswith("feedback: /wirewatch feedback not-relevant REF")


# -- commands through Slack ------------------------------------------------------------------


async def test_feeds_add_on_a_private_address_is_refused_unless_allowed(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.serve("/feed", NK_FEED)
    async with slack_env(tmp_path, allow_private=False) as env:
        reply = await env.command(f"feeds add {feed_server.url('/feed')}")
        assert "is not a public address (loopback)" in reply
        assert "allow_private_addresses: true" in reply
        assert list_feeds(env.rt.db) == [] and feed_server.requests == []


async def test_a_slow_command_is_acked_at_once_and_answered_later(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    async def slow(request: web.Request) -> web.Response:
        if len(feed_server.requests_to("/slow")) == 1:  # the check before adding: slow
            await asyncio.sleep(2.5)
        return web.Response(text=NK_FEED, content_type="application/rss+xml")

    feed_server.handle("/slow", slow)
    async with slack_env(tmp_path) as env:
        reply = await env.command(f"feeds add {feed_server.url('/slow')} Slow Wire")
        assert "added `Slow Wire`" in reply
        assert len(env.stub.responses) == 1  # the answer came through response_url


async def test_reply_text_is_escaped_for_slack(tmp_path: Path) -> None:
    async with slack_env(tmp_path) as env:
        reply = await env.command("test `<!channel>` <!channel> & <@U123>", user=MEMBER)
        assert "<!channel>" not in reply and "<@U123>" not in reply


async def test_a_headline_in_a_reply_cannot_set_text_bold_or_struck(tmp_path: Path) -> None:
    """Replies quote feed text outside code spans (`test`'s headline, `search`'s results):
    its *...* and ~...~ would be set bold or struck through; a query's `troop*` keeps its
    mark, and so does our own lone one ("a wildcard * may only end a word")."""
    async with slack_env(tmp_path) as env:
        reply = await env.command("test troop* *Breaking* US troops ~not~ sent", user=MEMBER)
        lone = await env.command("test *troop US troops sent", user=MEMBER)
    assert "`troop*`" in reply and '"∗Breaking∗ US troops ∼not∼ sent"' in reply, reply
    assert "a wildcard * may" in lone, lone


def _add_feeds(env: Env, count: int) -> None:
    from bot.feed_store import add_feed

    for n in range(count):
        name = f"Regional wire number {n:03}"
        add_feed(env.rt.db, f"https://feeds.example{n}.org/world/rss.xml", name, origin="config")


async def test_a_long_reply_comes_whole_in_several_messages_in_order(tmp_path: Path) -> None:
    # `feeds` with 150 feeds was cut at 12,000 characters, mid-line and without a word:
    # 89 of 150 feeds were shown.
    async with slack_env(tmp_path) as env:
        _add_feeds(env, 150)
        messages = await env.replies("feeds", user=ADMIN)
    assert 1 < len(messages) <= 5 and all(len(m) <= render.REPLY_MAX for m in messages)
    names = re.findall(r"Regional wire number (\d+)", "\n".join(messages))
    assert names == [f"{n:03}" for n in range(150)]  # all, in order, none cut in two
    assert all(m.split("\n")[-1].startswith("• ") for m in messages), "a chunk ends mid-line"


async def test_a_reply_too_long_for_slack_says_how_much_was_left_out(tmp_path: Path) -> None:
    async with slack_env(tmp_path) as env:
        _add_feeds(env, 600)
        messages = await env.replies("feeds", user=ADMIN)
    assert len(messages) == render.RESPONSES and all(len(m) <= render.REPLY_MAX for m in messages)
    shown = len(re.findall(r"^• `Regional wire", "\n".join(messages), re.MULTILINE))
    note = re.fullmatch(
        r"_… (\d+) more lines not shown: too long for Slack_", messages[-1].split("\n")[-1]
    )
    assert note and shown + int(note.group(1)) == 600


def test_reply_chunks_keep_entities_and_code_spans_whole() -> None:
    query = " OR ".join(f"a&b_{i}* <x>" for i in range(400))
    chunks = render.reply_chunks(f"- `wide`: `{query}`\n- `nk`: `x`", 5, limit=3000)
    assert len(chunks) > 1 and all(len(c) <= 3000 for c in chunks)
    assert all(c.count("`") % 2 == 0 for c in chunks), "a code span cut open"
    assert all(not re.search(r"&[a-z]*$", c) for c in chunks), "an entity cut in two"
    assert not re.search(r"^[a-z]*;", "\n".join(chunks[1:]), re.MULTILINE)


async def test_socket_mode_runs_commands_without_a_public_endpoint(tmp_path: Path) -> None:
    async with SlackStub() as stub:
        stub.add_user(ADMIN, admin=True)
        stub.add_channel(NEWS, "news")
        client = AsyncWebClient(token=TOKEN, base_url=stub.api_url, retry_handlers=[])
        adapter = SlackAdapter(client, app_token=APP_TOKEN, pace=0)
        assert adapter.mode == "socket" and adapter.routes() == []  # nothing to expose
        async with open_runtime(settings_for(tmp_path), {"slack": adapter}) as rt:
            await adapter.start(Commands(rt).handle)
            try:
                ack = await stub.socket_command(
                    "subscribe troop-deployments",
                    user=ADMIN,
                    channel=NEWS,
                    response_url=stub.response_url(),
                )
            finally:
                await adapter.stop()
            assert ack["response_type"] == "ephemeral" and "now gets" in ack["text"]
            assert [s.topic for s in subscriptions(rt.db, f"slack:{NEWS}")] == ["troop-deployments"]


# -- configuration ----------------------------------------------------------------------------


def test_slack_from_env(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert slack_from_env(settings, env={}) is None
    with pytest.raises(ConfigError) as missing:
        slack_from_env(settings, env={"SLACK_BOT_TOKEN": "xoxb-1"})
    assert "SLACK_SIGNING_SECRET" in str(missing.value)
    http = slack_from_env(
        settings,
        env={
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_SIGNING_SECRET": "s",
            "SLACK_API_URL": "http://127.0.0.1:8080/api",
        },
    )
    assert http is not None and http.mode == "http"
    assert http.client.base_url == "http://127.0.0.1:8080/api/"
    assert http.notice_users == (MOD,)
    assert [r.path for r in http.routes()] == ["/slack/events"]
    socket = slack_from_env(
        settings, env={"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}
    )
    assert socket is not None and socket.mode == "socket"
    assert socket.client.base_url == "https://slack.com/api/"


def test_manifest_has_the_command_scopes_and_endpoint() -> None:
    manifest = yaml.safe_load((ROOT / "config/slack-manifest.yml").read_text())
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/wirewatch" and command["url"].endswith("/slack/events")
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "users:read", "channels:history", "groups:history"} <= scopes
    assert {"channels:read", "groups:read", "im:read", "mpim:read"} <= scopes  # subscribe
    assert manifest["settings"]["event_subscriptions"]["request_url"].endswith("/slack/events")


def test_the_setup_guide_documents_every_subcommand() -> None:
    guide = (ROOT / "docs/slack.md").read_text()
    for sub in SUBCOMMANDS:
        assert f"`{sub.usage}`" in guide, sub.name
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "SLACK_API_URL",
        "WIREWATCH_HTTP_PORT",
        "config/slack-manifest.yml",
    ):
        assert name in guide


# -- rendering ----------------------------------------------------------------------------------


def make_alert(delivery_id: int, kind: str = "new", **changes: Any) -> Alert:
    fields: dict[str, Any] = dict(
        delivery_id=delivery_id,
        kind=kind,
        story_id=7,
        topic="troop-deployments",
        channel=f"slack:{NEWS}",
        title="North Korea has sent more troops to Russia",
        url="https://news.example/nk",
        outlet="Wire",
        published=datetime(2025, 2, 27, 8, 0, tzinfo=UTC),
        summary="Seoul says so.",
        entities=("North Korea", "Russia"),
        matched=("sent", "troops"),
        explanation='"sent" near "troops"',
        sources=(Source("Wire", "North Korea has sent more troops", "https://news.example/nk"),),
    )
    fields.update(changes)
    return Alert(**fields)


@given(st.text())
def test_escaped_text_has_no_slack_syntax_and_reads_the_same(text: str) -> None:
    out = render.escape(text)
    assert "<" not in out and ">" not in out
    assert out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,x",
        "file:///etc/passwd",
        "//news.example/x",
        "news.example/x",
        "",
        None,
    ],
)
def test_only_http_links_become_links(url: str | None) -> None:
    assert render.link(url, "<b>label</b>") == "&lt;b&gt;label&lt;/b&gt;"


def test_links_cannot_be_broken_out_of() -> None:
    made = render.link("https://news.example/a?x=1&y=2|<!channel>>", "label|<@U1>")
    assert made == ("<https://news.example/a?x=1&amp;y=2%7C%3C!channel%3E%3E|label|&lt;@U1&gt;>")


def test_every_field_of_an_alert_is_escaped() -> None:
    hostile = make_alert(
        1,
        title="<!channel>",
        outlet="<@U123>",
        summary="<!here> & <!everyone>",
        topic="<!subteam^S1>",
        explanation="<https://evil.example|x>",
        entities=("<@U123>",),
        matched=("<!here>",),
        url="javascript:alert(1)",
        sources=(
            Source("<@U123>", "<!channel>", "javascript:x"),
            Source("<!here>", "<https://evil.example|y>", "https://ok.example/<!here>"),
        ),
    )
    for rendered in (
        render.alert_blocks(hostile),
        render.update_blocks(hostile),
        render.alert_text(hostile),
        render.reply_text("<!channel> <@U123>"),
    ):
        text = json.dumps(rendered)
        for ping in PINGS:
            assert ping not in text


def test_every_text_object_is_verbatim_so_slack_parses_no_bare_mention() -> None:
    """Slack's text object: with `verbatim` false, its default, "certain mentions will be
    automatically parsed" in plain text; a bare @here or @channel in a headline, a summary,
    an outlet or an edit's words is feed text, never a mention."""
    bare = "@here @channel @everyone #general"
    hostile = make_alert(
        1,
        title=f"Troops sent {bare}",
        outlet=f"Wire {bare}",
        summary=bare,
        sources=(Source(f"A {bare}", bare, "https://a.example/1"), Source("B", bare, None)),
    )
    edited = make_alert(
        2,
        "edit",
        edit=Edit(word_diff("Troops sent", f"Troops sent {bare}"), (), started=(bare,)),
    )
    messages = [render.alert_blocks(hostile), render.update_blocks(hostile)]
    messages.append(render.edit_blocks(edited))
    for blocks in messages:
        objects = [b["text"] for b in blocks if "text" in b and b["type"] != "actions"]
        objects += [e for b in blocks if b["type"] == "context" for e in b["elements"]]
        assert objects and all(o["type"] == "mrkdwn" for o in objects)
        assert all(o.get("verbatim") is True for o in objects), objects


def test_why_and_sources_as_editors_read_them_stay_escaped() -> None:
    """The line an editor reads (words that fired, score) is cut from feed words: a word
    or an alias can be `<!channel>`; so can a source's headline, now on the first message."""
    hostile = make_alert(
        1,
        explanation=(
            'title has "<!channel>"; "<@U123>" within 5 words of "<!here>" in the title; '
            'entity X (as "<https://evil.example|x>"); relevance 0.90 (bar 0.50; words 0.8'
            "0, encoder 0.95): armed forces then <!everyone> +1.2"
        ),
        sources=(
            Source("<!subteam^S1>", "<!channel> drills", "https://a.example/1"),
            Source("Wire", "<@U123> sends troops", None),
        ),
    )
    blocks = render.alert_blocks(hostile)
    text = json.dumps(blocks)
    assert not any(ping in text for ping in PINGS)
    [why] = [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]][-2:-1]
    assert why == (
        'Topic `troop-deployments`: "&lt;!channel&gt;" in the title; "&lt;!here&gt;" near '
        '"&lt;@U123&gt;" in the title; X (as "&lt;https://evil.example|x&gt;") · relevance 0.90'
    )


def test_the_notification_text_of_each_kind_reads_as_a_sentence_head() -> None:
    """The fallback text is what a phone notification shows: a thread update read "Update
    Troops enter the capital (Wire)", the label run into the headline."""
    assert render.alert_text(make_alert(1)).startswith("[troop-deployments] North Korea has")
    update = render.alert_text(make_alert(2, "update", title="Troops enter the capital"))
    assert update == "Update: Troops enter the capital (Wire)"


def test_a_headline_or_outlet_cannot_break_our_bold_or_open_a_span() -> None:
    # `*Alpha *x* @everyone edited:*`: an outlet's or a headline's own * closed our bold and
    # opened one of its own; ~ and ` likewise struck or coded what followed. Lookalikes
    # stand in for them, as in a diff.
    hostile = make_alert(
        1,
        title="Troops *sent* ~north~ `now`",
        outlet="Wire *A*",
        url="https://a.example/1",
        sources=(
            Source("Wire *A*", "Ships ~sail~ *east*", "https://a.example/1"),
            Source("Wire B", "Troops sent", "https://b.example/1"),
        ),
    )
    first = json.dumps(render.alert_blocks(hostile), ensure_ascii=False)
    update = json.dumps(render.update_blocks(hostile), ensure_ascii=False)
    assert "|Troops ∗sent∗ ∼north∼ ˋnowˋ>*" in first
    assert "Ships ∼sail∼ ∗east∗" in first and "|Wire ∗A∗>" in first
    assert "*Update from Wire ∗A∗:*" in update and "Wire ∗A∗ · <!date" in first
    # The outlets line too: a feed named from its own title ("~Wire~ *A*") struck or bolded.
    marked = replace(hostile, corroboration=Corroboration(("~Wire~ *A*", "B"), corroborated=True))
    line = render.outlets_line(marked)
    assert line.endswith("2 outlets: ∼Wire∼ ∗A∗, B") and line.count("*") == 2, line


def test_a_summary_cannot_strike_words_open_code_or_quote() -> None:
    # The summary went out escaped only: "~not~" struck the word that carries the meaning,
    # "```" made the rest a code block and "> ..." a quote of someone else's words.
    summary = "Troops were ~not~ *withdrawn*\n```\ncode\n> Seoul said so\n  > again"
    alert = make_alert(1, summary=summary)
    for blocks in (render.alert_blocks(alert), render.update_blocks(alert)):
        [shown] = [b["text"]["text"] for b in blocks if b["type"] == "section" and "code" in str(b)]
        assert shown == "Troops were ∼not∼ ∗withdrawn∗\nˋˋˋ\ncode\n› Seoul said so\n  › again"


def test_blocks_stay_inside_slack_limits() -> None:
    long = make_alert(
        1,
        title="T" * 5000,
        summary="S" * 10000,
        explanation="E" * 9000,
        sources=tuple(Source(f"O{i}", "t" * 400, None) for i in range(40)),
    )
    for blocks in (render.alert_blocks(long), render.update_blocks(long)):
        for block in blocks:
            texts = [block.get("text", {})] + block.get("elements", [])
            assert all(len(t.get("text", "")) <= 3000 for t in texts)
    assert len(render.alert_text(long)) <= 3000


def test_a_very_long_url_never_takes_the_headline_with_it() -> None:
    # A link is kept whole or dropped by `clip`: with a 3,000-character URL the headline
    # and the update line read "*…" with no title at all.
    url = "https://news.example/" + "a" * 3000
    alert = make_alert(1, title="Troops sent north", url=url)
    for blocks in (render.alert_blocks(alert), render.update_blocks(alert)):
        assert "Troops sent north" in blocks[0]["text"]["text"], blocks[0]
    assert render.link("https://news.example/a", "x") == "<https://news.example/a|x>"


@given(st.text(alphabet="&<> ab", max_size=4000), st.integers(min_value=2, max_value=3000))
def test_a_clipped_text_ends_on_whole_entities_and_links(text: str, limit: int) -> None:
    escaped = render.escape(text) + " " + render.link("https://news.example/a?x=1&y=2", text)
    out = render.clip(escaped, limit)
    assert len(out) <= limit
    if out != escaped:
        kept = out.removesuffix("…")
        assert escaped.startswith(kept)
        assert not re.search(r"&[a-z]*$", kept), kept[-12:]  # no "&am…"
        assert kept.count("<") == kept.count(">")  # a link is whole or not there


def test_a_long_summary_of_ampersands_is_cut_between_entities() -> None:
    blocks = render.alert_blocks(make_alert(1, summary="&" * 1000))  # 5,000 once escaped
    texts = [b.get("text", {}).get("text", "") for b in blocks]
    summary = next(t for t in texts if t.startswith("&amp;"))
    assert len(summary) <= 3000 and summary.endswith("&amp;…")  # not "&amp…"


def test_command_text_undoes_slack_escaping() -> None:
    raw = "feeds add <https://a.example/rss?x=1&amp;y=2|a.example/rss> A &amp; B &lt;3"
    assert render.command_text(raw) == "feeds add https://a.example/rss?x=1&y=2 A & B <3"


def test_command_text_keeps_what_was_typed_where_no_url_is_wanted() -> None:
    """Slack links a typed `reuters.com`: a query or a search keeps the words typed."""
    raw = "topic add wire `<http://reuters.com|reuters.com> AND troops`"
    assert render.command_text(raw) == "topic add wire `reuters.com AND troops`"
    assert render.command_text("search <http://news.example|news.example>") == (
        "search news.example"
    )
    raw = "test troop-deployments <https://a.example/story|a.example/story>"
    assert render.command_text(raw) == "test troop-deployments https://a.example/story"


def test_starting_with_a_token_in_the_environment_warns_of_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """bolt saw SLACK_BOT_TOKEN and the client's token and said one "will be unused"."""
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.WARNING)
    assert slack_from_env(settings_for(tmp_path), env=env) is not None
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    logging.getLogger("slack_bolt.AsyncApp").warning("other bolt warnings still show")
    assert "other bolt warnings still show" in caplog.text
