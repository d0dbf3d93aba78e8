"""`digest SINCE` reads the window it asks for, and `db prune` drops the deliveries skipped
while muted that no recap reaches any more. Real SQLite.

Before: the recap's "not told" query read the channel's every delivery ever (the index on
(channel, story) was all it had), on the store thread every command waits for; and a
muted channel's deliveries on a story open for weeks were never pruned, one a report."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import iso
from bot.ingest import store_new_items
from bot.maintenance import prune
from bot.redecide import subscribe
from bot.told import told_since
from tests.test_outbox import NK, NK2, NOW, _item, _setup

MUTED = "chat:M"


def _muted_story(tmp_path):
    """One story, two reports: the first 40 days old, the second now (the story is open);
    chat:I follows it, chat:M too but muted."""
    db, feed, index = _setup(tmp_path, channels=("chat:I",))
    subscribe(db, MUTED, "t", "instant")
    db.execute(
        "UPDATE subscriptions SET muted_until = ? WHERE channel = ?",
        [iso(NOW + timedelta(days=60)), MUTED],
    )
    store_new_items(db, feed, [_item("1", NK, NOW), _item("2", NK2, NOW)], index, NOW)
    old = iso(NOW - timedelta(days=40))
    db.execute("UPDATE items SET published = ? WHERE title = ?", [old, NK])
    db.execute(
        "UPDATE deliveries SET created = ?, next_attempt = ? WHERE item_id = "
        "(SELECT id FROM items WHERE title = ?)",
        [old, old, NK],
    )
    return db


def _deliveries(db) -> list[tuple[str, str, str]]:
    return db.execute(
        "SELECT d.channel, i.title, d.status FROM deliveries d JOIN items i ON i.id = d.item_id "
        "ORDER BY d.channel, i.title"
    ).fetchall()


def test_prune_drops_muted_deliveries_older_than_its_cutoff_and_a_recaps_reach(tmp_path):
    db = _muted_story(tmp_path)
    before = _deliveries(db)
    assert (MUTED, NK, "muted") in before and (MUTED, NK2, "muted") in before

    assert prune(db, 30 * 86400, 72 * 3600, vacuum=False, dry_run=True).deliveries == 1
    done = prune(db, 30 * 86400, 72 * 3600, vacuum=False)
    assert (done.items, done.deliveries) == (0, 1)  # the open story keeps its items
    assert _deliveries(db) == [d for d in before if d != (MUTED, NK, "muted")]

    # Within the recap's reach (7 days), a prune with a shorter cutoff keeps them.
    db.execute("UPDATE deliveries SET created = ? WHERE channel = ?", [iso(NOW), MUTED])
    assert prune(db, 86400, 72 * 3600, vacuum=False).deliveries == 0
    [story] = told_since(db, MUTED, NOW - timedelta(days=7), 50)[0]
    assert story.state == "muted"


def test_the_recap_reads_its_window_through_indexes(tmp_path):
    db = _muted_story(tmp_path)
    db.execute("ANALYZE")  # as a database in use would have its statistics
    said: list[str] = []
    db.conn.set_trace_callback(said.append)
    try:
        told_since(db, MUTED, NOW - timedelta(days=1), 50)
    finally:
        db.conn.set_trace_callback(None)
    reads = [s for s in said if "FROM deliveries d" in s and "GROUP BY d.story_id" in s]
    plan_of = {s: [r[-1] for r in db.execute(f"EXPLAIN QUERY PLAN {s}")] for s in reads}
    # The outlets of the page's stories (50 at most; their reports, to fold wire copy as
    # alerts do): read story by story.
    [outlets] = [s for s in reads if "items.wire" in s]
    assert any("deliveries_channel_story (channel=? AND story_id=?)" in p for p in plan_of[outlets])
    plans = {s: plan for s, plan in plan_of.items() if s != outlets}
    assert len(plans) == 2  # what it was told, what it was not
    for sql, plan in plans.items():
        read = next(p for p in plan if " d " in f" {p} ")
        assert read.startswith("SEARCH d USING INDEX"), (sql, plan)
        # The window's deliveries, not the channel's every one.
        assert "deliveries_channel_story" not in read and ">" in read, (sql, plan)
