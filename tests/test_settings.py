"""The config file: defaults that work, every mistake named with where it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.check import check_settings, load_checked
from bot.cli import main
from bot.durations import format_duration, parse_duration
from bot.errors import ConfigError
from bot.gazetteer import Gazetteer
from bot.settings import load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "wirewatch.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_default_is_valid():
    settings = load_settings()
    assert [f.name for f in settings.feeds] == ["Al Jazeera", "Yonhap", "The Moscow Times"]
    assert settings.poll_interval == 45 and settings.max_age == 86400
    assert check_settings(settings, Gazetteer.load()) == []


def test_every_shape_problem_is_reported_with_its_key_path(tmp_path):
    path = write(
        tmp_path,
        """
feeds:
  - {name: A, url: ftp://example.org/feed}
  - {url: https://example.org/rss}
poll_interval: 5 minutes
subscriptions:
  - {topic: troop-deployments, channel: irc:#news}
colour: blue
""",
    )
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    text = "\n".join(err.value.problems)
    assert "feeds[0].url" in text and "http" in text
    assert "feeds[1].name" in text
    assert "poll_interval" in text and "duration" in text
    assert "subscriptions[0].channel" in text
    assert "colour" in text
    assert all(p.startswith(str(path)) for p in err.value.problems)


def test_yaml_syntax_error_names_line_and_column(tmp_path):
    path = write(tmp_path, "feeds:\n  - {name: A, url: https://x.org\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert "line " in err.value.problems[0] and "column" in err.value.problems[0]


def test_missing_file_says_how_to_point_at_one(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "nope.yaml")


def test_semantic_problems_bad_query_unknown_topic_duplicate_feed(tmp_path):
    path = write(
        tmp_path,
        """
feeds:
  - {name: A, url: https://example.org/rss}
  - {name: B, url: https://example.org/rss}
topics:
  broken: {query: '"unclosed phrase'}
subscriptions:
  - {topic: no-such-topic, channel: console}
""",
    )
    problems = check_settings(load_settings(path), Gazetteer.load())
    text = "\n".join(problems)
    assert "topics.broken.query" in text
    assert "subscriptions[0].topic" in text and "no-such-topic" in text
    assert "feeds[1].url" in text


def test_env_overrides_database(tmp_path, monkeypatch):
    monkeypatch.setenv("WIREWATCH_DB", str(tmp_path / "x.db"))
    assert load_settings().database == str(tmp_path / "x.db")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("24h", 86400),
        ("1h30m", 5400),
        ("7d", 604800),
        ("0s", 0),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "5 minutes", "-5m", "", "m5", "9" * 400 + "d"])
def test_bad_durations_say_the_accepted_form(bad):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize("bare", ["90", "45", 90, 3.5, "0"])
def test_a_duration_without_a_unit_is_refused_with_the_choices(bare):
    # `--older-than 90` meant 90 seconds to wirewatch and 90 days to the person typing it.
    with pytest.raises(ValueError, match=r"has no unit: write \S+s, \S+m, \S+h or \S+d"):
        parse_duration(bare)


def test_a_config_duration_without_a_unit_is_a_config_error(tmp_path):
    path = write(tmp_path, "poll_interval: 300\nstory_window: '72'\nfeeds: []\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    text = "\n".join(err.value.problems)
    assert "poll_interval: 300 has no unit" in text and "story_window: 72 has no unit" in text


def test_format_duration_round_trips_and_stays_short():
    for seconds in (30, 300, 5400, 86400, 90000):
        assert parse_duration(format_duration(seconds)) == seconds
    assert format_duration(90061) == "1d1h"  # people read two units, not four
    # Two units next to each other: 2 h 0 m 1 s is "2h", not "2h1s" (status's "ended 2h1s ago").
    assert [format_duration(s) for s in (7201, 86401, 3660, 61)] == ["2h", "1d", "1h1m", "1m1s"]
    assert format_duration(-5) == "0s"  # a clock stepped back, not an error


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_checked(path, Gazetteer.load())
    return err.value.problems


def test_a_feeds_own_interval_is_held_to_the_same_10s_floor(tmp_path):
    path = write(
        tmp_path,
        "feeds:\n  - {name: A, url: 'https://a.example/rss', interval: 5s}\n"
        "  - {name: B, url: 'https://b.example/rss', interval: 10s}\n",
    )
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}: feeds[0].interval: must be at least 10s")


def test_feeds_with_the_same_name_or_url_are_refused(tmp_path):
    path = write(
        tmp_path,
        """
feeds:
  - {name: Wire, url: https://a.example/rss}
  - {name: wire, url: https://b.example/rss}
  - {name: Other, url: https://a.example/rss}
""",
    )
    assert _problems(path) == [
        f"{path}: feeds[1].name: same name as feeds[0]",
        f"{path}: feeds[2].url: same URL as feeds[0]",
    ]


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_an_empty_config_is_refused_and_points_at_the_shipped_one(tmp_path, text):
    # Settings' own defaults have no feeds and no subscriptions: an empty file would run
    # a bot that never alerts, while README's defaults (3 outlets, console) are the
    # shipped file's.
    (problem,) = _problems(write(tmp_path, text))
    assert "is empty" in problem and "wirewatch.yaml" in problem and "3 outlets" in problem


def test_unknown_keys_say_what_was_meant(tmp_path):
    path = write(
        tmp_path,
        """
colour: blue
pol_interval: 5m
feeds:
  - {name: A, url: 'https://a.example/rss', intervall: 5m}
network: {timout: 3s}
topics:
  mine: {qeury: troops}
""",
    )
    text = "\n".join(_problems(path))
    assert "feeds[0].intervall: unknown key: did you mean 'interval'?" in text
    assert "network.timout: unknown key: did you mean 'timeout'?" in text
    assert "pol_interval: unknown key: did you mean 'poll_interval'?" in text
    assert "topics.mine.qeury: unknown key: did you mean 'query'?" in text
    assert "colour: unknown key (known here: database, poll_interval," in text
    assert "Extra inputs" not in text


def test_a_source_key_is_refused_not_silently_lost(tmp_path):
    """`source` is the settings' own record of where they were read from: a file's `source:`
    would be overwritten without a word, so it is an unknown key like any other, in the
    file's order beside the other problems."""
    path = write(tmp_path, "source: feeds.opml\npoll_interval: abc\n")
    problems = _problems(path)
    assert ": source: unknown key (known here: database, poll_interval," in problems[0]
    assert "source" not in problems[0].split("known here:")[1]
    assert "poll_interval" in problems[1]
    assert load_settings(write(tmp_path, "poll_interval: 5m\n")).source.endswith(".yaml")


def test_problems_carry_no_pydantic_prefixes(tmp_path):
    path = write(
        tmp_path,
        "poll_interval: 1s\nfeeds:\n  - {name: A, url: 'ftp://a.example/'}\n"
        "subscriptions:\n  - {topic: troop-deployments, channel: irc}\n",
    )
    problems = _problems(path)
    assert len(problems) == 3
    assert not [p for p in problems if "Value error" in p or "Assertion failed" in p]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("database: x\nfeeds\n  - {name: A}\nmax_failures: 3\n", "line 2, column 1"),
        ("database: 'x.db\nfeeds: []\n", "line 1, column 11"),
        ("feeds:\n  - {name: A, url: https://x.org\nsubscriptions: []\n", "line 2, column 5"),
        ("feeds:\n  - [A, B\n", "line 2, column 5"),
        ("database: x\n- a\n", "line 2, column 1"),
    ],
    ids=["key-without-colon", "unclosed-quote", "unclosed-brace", "unclosed-bracket", "list"],
)
def test_a_yaml_error_names_the_line_of_the_mistake(tmp_path, text, line):
    (problem,) = _problems(write(tmp_path, text))
    assert problem.startswith(f"{tmp_path / 'wirewatch.yaml'}: {line}: "), problem


def test_every_problem_is_reported_at_once(tmp_path):
    """Shape mistakes do not hide the rest: queries, topics and duplicates are checked too."""
    path = write(
        tmp_path,
        """
poll_interval: 1s
feeds:
  - {name: A, url: https://a.example/rss}
  - {name: B, url: https://a.example/rss}
  - {name: C, url: gopher://c.example/}
topics:
  broken: {query: 'troops AND'}
subscriptions:
  - {topic: troop-deployment, channel: console}
  - {topic: broken, channel: irc}
""",
    )
    text = "\n".join(_problems(path))
    for where in (
        "poll_interval:",
        "feeds[2].url:",
        "subscriptions[1].channel:",
        "topics.broken.query:",
        "subscriptions[0].topic: unknown topic 'troop-deployment'",
        "feeds[1].url: same URL as feeds[0]",
    ):
        assert f"{path}: {where}" in text, where


def _said(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as err:
        load_checked(write(tmp_path, text), Gazetteer.load())
    return "\n".join(err.value.problems)


def test_a_key_given_twice_is_refused_not_overwritten(tmp_path):
    """A second `feeds:` block would replace the first, whose feeds the bot then disables."""
    said = _said(
        tmp_path,
        "feeds:\n  - {name: A, url: 'https://a.example/rss'}\n"
        "database: w.db\n"
        "feeds:\n  - {name: B, url: 'https://b.example/rss'}\n",
    )
    assert "line 4" in said and "'feeds' is given twice (first on line 1)" in said
    ok = write(tmp_path, "feeds:\n  - {<<: {name: X, url: 'https://x.example/rss'}, name: A}\n")
    assert [f.name for f in load_settings(ok).feeds] == ["A"]  # a merge key may be overridden


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    """A 400-byte file whose aliases expand nine-fold nine times (a billion laughs): turned
    into text as moderator ids, it ran for minutes, eating memory."""
    import time

    lines = ["lol:", "  a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"  a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 9)]
    started = time.monotonic()
    said = _said(tmp_path, "\n".join([*lines, "slack:", "  moderators: *a8", ""]))
    assert time.monotonic() - started < 5
    assert "slack.moderators: each moderator is a user or role id" in said


def test_moderators_are_ids_not_anything_that_turns_into_text(tmp_path):
    said = _said(tmp_path, "slack:\n  moderators:\n    - U123\n    - [nested, list]\n    -\n")
    assert "slack.moderators: each moderator is a user or role id" in said
    ok = write(tmp_path, "discord:\n  moderators: [123456789012345678, Role]\n")
    assert load_settings(ok).discord.moderators == ["123456789012345678", "Role"]


@pytest.mark.parametrize(
    "channel", ["console\n", "slack:C0123\n", "discord:\u0661\u0662\u0663", "console "]
)
def test_a_channel_is_written_exactly(tmp_path, channel):
    """`console\\n` passed: its alerts then waited for ever on a channel nobody delivers to."""
    escaped = channel.replace("\n", "\\n")
    said = _said(
        tmp_path, f'subscriptions:\n  - {{topic: troop-deployments, channel: "{escaped}"}}\n'
    )
    assert "subscriptions[0].channel: must be console" in said


@pytest.mark.parametrize(
    "channel, hint",
    [
        ("#general", "a channel's id, not its name"),
        ("slack:#news", "a channel's id, not its name"),
        ("C0123ABCD", "did you mean slack:C0123ABCD?"),
        ("123456789012345678", "did you mean discord:123456789012345678?"),
        ("Console", "did you mean console?"),
        ("slack:c0123abcd", "did you mean slack:C0123ABCD?"),
    ],
)
def test_a_channel_written_as_newcomers_write_it_is_refused_with_what_to_write(
    tmp_path, channel, hint
):
    """A channel's name, or an id without its platform, said only the rule: which id, where?"""
    said = _said(
        tmp_path, f'subscriptions:\n  - {{topic: troop-deployments, channel: "{channel}"}}\n'
    )
    assert "subscriptions[0].channel: must be console" in said and hint in said


@pytest.mark.parametrize("key", ["story_window", "poll_interval", "max_age", "digest_every"])
def test_a_duration_too_long_to_mean_anything_is_refused(tmp_path, key):
    said = _said(tmp_path, f"{key}: 100000000000w\n")
    assert f"{key}: " in said and "at most 3650d" in said


@pytest.mark.parametrize(
    "url, says",
    [
        ("http://127.0.0.1:99999/feed", "not a usable URL"),
        ("http://[::1/feed", "not a usable URL"),
        ("https://a.example/r ss", "spaces"),
        ("http://h:9\\\\@evil/", "backslashes"),
    ],
)
def test_feed_urls_that_can_never_be_fetched_are_refused(tmp_path, url, says):
    said = _said(tmp_path, f"feeds:\n  - {{name: A, url: '{url}'}}\n")
    assert "feeds[0].url" in said and says in said, said


@pytest.mark.parametrize(
    "text, where",
    [
        ("network: {timeout: 0s}", "network.timeout"),
        ("articles: {timeout: 0s}", "articles.timeout"),
        ('network: {user_agent: "a\\r\\nX-Evil: 1"}', "network.user_agent"),
        ("max_failures: yes", "max_failures"),
        ("health: {failures: true}", "health.failures"),
        ("network: {max_feed_bytes: true}", "network.max_feed_bytes"),
    ],
)
def test_settings_that_would_make_every_fetch_fail_are_refused(tmp_path, text, where):
    said = _said(tmp_path, text + "\n")
    assert f"{where}: " in said, said


@pytest.mark.parametrize("agent", ["''", "'   '"], ids=["empty", "blank"])
def test_an_empty_user_agent_is_refused_with_how_to_get_the_default(tmp_path, agent):
    # Accepted, it sent `User-Agent: ` (nothing) with every fetch, which many wires refuse.
    said = _said(tmp_path, f"network: {{user_agent: {agent}}}\n")
    assert "network.user_agent: " in said and "leave it out for the default" in said, said


def test_one_topic_twice_for_one_channel_is_refused(tmp_path):
    said = _said(
        tmp_path,
        "subscriptions:\n  - {topic: troop-deployments, channel: console}\n"
        "  - {topic: troop-deployments, channel: console, mode: digest}\n",
    )
    assert "subscriptions[1]: troop-deployments to console again (subscriptions[0])" in said


def test_two_spellings_of_one_feed_url_are_refused(tmp_path):
    said = _said(
        tmp_path,
        "feeds:\n  - {name: A, url: 'https://A.example/rss/'}\n"
        "  - {name: B, url: 'https://a.example/rss#top'}\n",
    )
    assert "feeds[1].url: same URL as feeds[0]" in said


def test_a_database_path_that_is_a_folder_is_named(tmp_path):
    said = _said(tmp_path, f"database: {tmp_path}\n")
    assert "database: " in said and "is a directory, not a database file" in said


def test_a_database_folder_named_by_wirewatch_db_is_the_same_error_as_in_the_config(
    tmp_path, monkeypatch, capsys
):
    # `check` refused `database: /tmp` (exit 2) but only warned of WIREWATCH_DB=/tmp (exit 0).
    config = write(tmp_path, "feeds: []\n")
    monkeypatch.setenv("WIREWATCH_DB", str(tmp_path))
    assert main(["check", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"WIREWATCH_DB: {tmp_path} is a directory, not a database file" in err, err


def test_a_config_not_in_utf8_names_the_line_and_the_fix(tmp_path):
    # An accent in a comment, saved as Latin-1, read "cannot read: 'utf-8' codec can't decode
    # byte 0xe9 in position 60: invalid continuation byte".
    path = tmp_path / "wirewatch.yaml"
    path.write_bytes("feeds: []\nsubscriptions: []\n# caf\u00e9 desk\n".encode("latin-1"))
    with pytest.raises(ConfigError) as err:
        load_checked(path, Gazetteer.load())
    said = f"{path}: line 3 is not UTF-8 (byte 0xe9): save the file as UTF-8"
    assert err.value.problems == [said]


def test_topics_written_as_a_list_say_how_a_topic_is_written(tmp_path):
    # `topics:` as a list, the way `feeds:` is written, read "must be a mapping of keys (),
    # not [...]": keys nobody could name. It is keyed by the topics' own names.
    said = _said(tmp_path, "topics:\n  - {name: foo, query: troops}\n")
    assert "topics: must be a mapping of names, each written `NAME: {query: " in said, said
    assert "()" not in said


def test_a_database_path_with_a_shell_variable_is_refused_not_made_a_folder(tmp_path):
    # YAML expands nothing: `$HOME/w.db`, as a systemd unit or cron line is written, made a
    # folder named `$HOME` in whatever folder the bot was started from.
    said = _said(tmp_path, "database: $HOME/wirewatch.db\n")
    assert "database: $HOME/wirewatch.db: $HOME is not expanded in the config file" in said
    assert "set WIREWATCH_DB in the environment" in said
    assert "${DATA}" in _said(tmp_path, "database: ${DATA}/wirewatch.db\n")


def test_a_database_path_with_a_shell_variable_is_no_matter_when_wirewatch_db_replaces_it(
    tmp_path, monkeypatch
):
    # docker-compose sets WIREWATCH_DB: a mounted config's `database:` is never opened then,
    # and refusing it asked for what was already done.
    monkeypatch.setenv("WIREWATCH_DB", str(tmp_path / "w.db"))
    settings = load_checked(write(tmp_path, "database: $HOME/wirewatch.db\n"), Gazetteer.load())
    assert settings.database == str(tmp_path / "w.db")


def test_a_database_folder_in_the_config_is_no_matter_when_wirewatch_db_replaces_it(
    tmp_path, monkeypatch
):
    # compose sets WIREWATCH_DB: a config's `database: /data` (the volume, not the file) is
    # never opened then, and every command refused to start over it.
    monkeypatch.setenv("WIREWATCH_DB", str(tmp_path / "w.db"))
    settings = load_checked(write(tmp_path, f"database: {tmp_path}\n"), Gazetteer.load())
    assert settings.database == str(tmp_path / "w.db")


@pytest.mark.parametrize("text", ["[" * 600 + "]" * 600, "x: " + "[" * 600 + "]" * 600])
def test_yaml_nested_too_deeply_is_a_config_error(tmp_path, text):
    said = _said(tmp_path, text)
    assert "nested too deeply" in said


def test_a_huge_file_is_not_read_to_its_end(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * (6 * 2**20))
    with pytest.raises(ConfigError) as err:
        load_checked(path, Gazetteer.load())
    assert "larger than 5 MB" in err.value.problems[0]


def test_odd_values_that_used_to_pass_silently(tmp_path, monkeypatch):
    said = _said(tmp_path, "feeds:\n  - {name: '   ', url: 'https://a.example/rss'}\n")
    assert "feeds[0].name: must be one line of text" in said
    home = write(tmp_path, "database: ~/wirewatch-test.db\n")
    assert load_settings(home).database == str(Path.home() / "wirewatch-test.db")
    monkeypatch.setenv("WIREWATCH_ALLOW_PRIVATE_ADDRESSES", "maybe")
    with pytest.raises(ConfigError, match="neither true nor false"):
        load_settings(write(tmp_path, "feeds: []\n"))
    monkeypatch.setenv("WIREWATCH_ALLOW_PRIVATE_ADDRESSES", "no")
    monkeypatch.setenv("WIREWATCH_DB", " ")
    with pytest.raises(ConfigError, match="WIREWATCH_DB: blank"):
        load_settings(write(tmp_path, "feeds: []\n"))


def test_a_config_topic_query_may_be_a_list_of_texts_as_in_topics_yaml(tmp_path):
    path = write(tmp_path, "topics:\n  nk-border:\n    query: [troops, NEAR/5, border]\n")
    settings = load_settings(path)
    assert settings.topics["nk-border"].query == "troops NEAR/5 border"
    assert check_settings(settings, Gazetteer.load()) == []
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, "topics:\n  odd:\n    query: {troops: border}\n"))
    where = f"{tmp_path / 'wirewatch.yaml'}: topics.odd.query"
    assert err.value.problems == [f"{where}: must be a query: text, or a list of texts"]


def test_a_config_topic_of_exclusions_only_is_refused_as_chat_refuses_it(tmp_path):
    path = write(
        tmp_path,
        "topics:\n  quiet: {query: NOT drill}\n  untitled: {query: 'title:NOT troops'}\n"
        "  fine: {query: troops AND NOT drill}\n"
        "  modelled: {query: NOT drill*, relevance: deployments}\n",  # the model decides
    )
    problems = check_settings(load_settings(path), Gazetteer.load())
    assert [p.split(": ")[1] for p in problems] == ["topics.quiet.query", "topics.untitled.query"]
    assert all("matches an item with no words at all, so nearly every item" in p for p in problems)


def test_a_list_query_is_checked_even_when_the_file_has_a_shape_mistake(tmp_path):
    path = write(tmp_path, "poll_interval: 5 minutes\ntopics:\n  x: {query: [troops, -drill]}\n")
    with pytest.raises(ConfigError) as err:
        load_checked(path, Gazetteer.load())
    assert any(
        "topics.x.query: -drill: use NOT drill to exclude a word" in p for p in err.value.problems
    ), err.value.problems


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "feeds:\n  - https://a.example/rss\n",
            "feeds[0]: a feed is written `{name: Example, url: https://example.com/rss}`, "
            "not a bare URL",
        ),
        (
            "feeds:\n  - {url: https://a.example/rss}\n",
            "feeds[0].name: missing: a feed needs `name`, as in `{name: Example, url: ",
        ),
        ("corroboration: {outlets: 1}\n", "corroboration.outlets: must be at least 2, not 1"),
        ("articles: {concurrency: 100}\n", "articles.concurrency: must be at most 32, not 100"),
        ("network: {timeout: 0s}\n", "network.timeout: must be more than 0s"),
        ("max_failures: '5'\n", "max_failures: must be a whole number written without quotes"),
        ("sentence_vectors: maybe\n", "sentence_vectors: must be true or false, not 'maybe'"),
        ("feeds:\n", "feeds: must be a list (`[a, b]`, or one `- item` per line), not empty"),
        (
            "subscriptions:\n  - {topic: troop-deployments, channel: console, mode: daily}\n",
            "subscriptions[0].mode: must be instant or digest, not 'daily'",
        ),
        (
            "topics:\n  t: {query: troops, relevance: nope}\n",
            "topics.t.relevance: relevance model 'nope' does not exist",
        ),
        ("topics:\n  t: troops\n", "topics.t: a topic is written `NAME: {query: "),
    ],
    ids=[
        "bare-url",
        "no-name",
        "outlets",
        "concurrency",
        "timeout",
        "quoted-int",
        "bool",
        "empty-list",
        "mode",
        "relevance",
        "bare-query",
    ],
)
def test_shape_mistakes_are_said_in_prose_at_the_key_to_fix(tmp_path, text, said):
    problems = _problems(write(tmp_path, text))
    assert [p for p in problems if f"{tmp_path / 'wirewatch.yaml'}: {said}" in p], problems
    assert not [p for p in problems if "Input should" in p or "Field required" in p]


def test_problems_come_in_the_order_of_the_file(tmp_path):
    path = write(
        tmp_path,
        "databse: x.db\nfeeds:\n  - {name: A, url: https://a.example/, intervall: 5m}\n"
        "subscriptions:\n  - {topic: nope, channel: console}\n"
        "topics:\n  t: {query: 'troops AND'}\npoll_interval: 1s\n",
    )
    wheres = [p.split(": ")[1] for p in _problems(path)]
    assert wheres == [
        "databse",
        "feeds[0].intervall",
        "subscriptions[0].topic",
        "topics.t.query",
        "poll_interval",
    ]
