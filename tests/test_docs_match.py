"""The docs a new user reads say what the code does: every command line they show parses with
the real parsers, every name they give (environment variable, config key, module, benchmark)
exists, and every one the code has is documented.

What tests/test_cli.py already holds (README's commands table against argparse, its config
table against the settings model) and tests/test_slack.py (docs/slack.md names every chat
command) is not repeated here; this covers the rest of the prose and the other files.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import re
import shlex
import tokenize
from pathlib import Path

import discord
import pytest
import yaml
from pydantic import BaseModel

from adapters.discord_schema import SUB_COMMAND_GROUP, command_payload, layout
from bot.check import load_checked
from bot.cli import build_parser
from bot.commands import SUBCOMMANDS, parse, rights_mark
from bot.durations import parse_duration
from bot.errors import CommandError
from bot.gazetteer import Gazetteer
from bot.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# README and every page of docs/ (README sends readers there), and the two other READMEs.
DOCS = (
    "README.md",
    *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")),
    "bench/README.md",
    "eval/README.md",
)
# Pages that must keep showing something of the kind a test reads (an empty extraction
# would otherwise pass by finding nothing).
CHAT_DOCS = ("README.md", "docs/commands.md", "docs/slack.md", "docs/topics.md")
# Files whose comments a user reads before the first run.
COMMENTED = ("config/wirewatch.yaml", "config/topics.yaml", "docker-compose.yml", ".env.example")
# Placeholders a usage line writes for a value, and a value of the kind each stands for.
PLACEHOLDERS = {"ALERT": "12", "QUERY": "troops", "TOPIC": "troops", "TEXT": "troops"}


def _read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def _spans(text: str) -> list[str]:
    """What a reader copies: `code spans` (joined across a line break) and lines of
    shell blocks."""
    fenced = re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    spans = [" ".join(s.split()) for s in re.findall(r"(?<!`)`([^`]+)`(?!`)", prose)]
    lines = [line for kind, block in fenced if kind != "text" for line in block.splitlines()]
    return spans + lines


def _cli_lines(text: str) -> list[str]:
    """The arguments of every `wirewatch ...` a doc shows as something to type."""
    found = []
    for span in _spans(text):
        for m in re.finditer(r"(?:^|bin/|&& |exec wirewatch )wirewatch (\S.*?)(?: +#.*)?$", span):
            found.append(m.group(1))
    return found


def _command_paths(parser: argparse.ArgumentParser, path: str = "") -> set[str]:
    """Every command and command group the parser has: "feeds", "feeds export", "db"..."""
    paths = {path} if path else set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                paths |= _command_paths(child, f"{path} {name}".strip())
    return paths


def _is_usage(args: str) -> bool:
    """A synopsis (`[--json]`, `(A | B)`, `COMMAND ...`), which test_cli holds to the
    parser for the commands table, rather than a line to run."""
    return bool(re.search(r"[\[(]|\.\.\.|…|COMMAND", args))


def _runnable(args: str) -> list[str]:
    words = []
    for word in shlex.split(args):
        word = word.split("|")[0] if "|" in word and word[0].isupper() else word
        words.append(PLACEHOLDERS.get(word, word))
    return words


@pytest.mark.parametrize("doc", DOCS + COMMENTED)
def test_every_wirewatch_command_line_a_doc_shows_parses(doc: str) -> None:
    """A flag or command renamed in the code and not in a doc (`--older-than 90d`, `feeds
    enable NAME`) leaves the user an argparse error on their first try."""
    parser = build_parser()
    paths = _command_paths(parser)
    shown = [args for args in _cli_lines(_read(doc)) if not _is_usage(args)]
    for args in shown:
        words = _runnable(args)
        named = " ".join(w for w in words if not w.startswith("-"))
        if named in paths:  # prose naming a command (`wirewatch feeds enable`)
            continue
        if words in (["-v"], ["--version"]):
            continue
        try:
            parser.parse_args(words)
        except SystemExit as exc:
            pytest.fail(f"{doc}: `wirewatch {args}` does not parse (exit {exc.code})")
    if doc in ("README.md", "docs/commands.md", "docs/operations.md", "config/wirewatch.yaml"):
        assert shown, f"no command line found in {doc}: the extraction broke"


def _chat_lines(text: str) -> list[str]:
    return [m for s in _spans(text) for m in re.findall(r"^/wirewatch(?: (.*))?$", s) if m]


@pytest.mark.parametrize("doc", DOCS)
def test_every_chat_command_a_doc_shows_exists(doc: str) -> None:
    """`/wirewatch ...` as written in the docs is a command of the shared parser (which
    refuses an unknown one, or words after one that takes none), and its `--options` are
    the ones it takes."""
    lines = _chat_lines(_read(doc))
    if doc in CHAT_DOCS:
        assert lines, f"no /wirewatch line found in {doc}: the extraction broke"
    for line in lines:
        sub, _ = parse(line.split(" [")[0])  # a synopsis' optional part is not typed as such
        for option in re.findall(r"(?<!\S)--[a-z-]+", line):
            assert option.lstrip("-") in {a[0] for a in sub.args}, f"{doc}: `/wirewatch {line}`"


def test_the_chat_command_list_spells_every_command_as_help_writes_it() -> None:
    """docs/commands.md's list of `/wirewatch` commands names each with the arguments in-chat
    help shows (`test TOPIC|QUERY TEXT|URL`), so the two never teach different spellings."""
    page = _read("docs/commands.md")
    start = page.index("Moderators run wirewatch from chat with `/wirewatch`:")
    shown = set(_spans(page[start : page.index("\n\n", start)]))
    for sub in SUBCOMMANDS:
        assert sub.usage.removeprefix("/wirewatch ") in shown, sub.usage


def test_the_chat_command_list_names_only_commands_the_bot_has() -> None:
    """The other way round: a command renamed or dropped in the code leaves no bullet in
    docs/commands.md teaching it (the bullets name commands without `/wirewatch`, so the
    check of every `/wirewatch ...` line above does not read them)."""
    page = _read("docs/commands.md")
    start = page.index("Moderators run wirewatch from chat with `/wirewatch`:")
    block = page[start : page.index("\n\n", start)]
    heads = re.findall(r"^- `([^`]+)`((?:(?:,| or) `[^`]+`)*)", block, re.M)
    assert len(heads) >= len({s.name.split()[0] for s in SUBCOMMANDS}), heads
    for first, more in heads:
        for span in [first, *re.findall(r"`([^`]+)`", more)]:
            try:
                parse(span.split(" [")[0])  # a synopsis' optional part is not typed as such
            except CommandError as exc:
                pytest.fail(f"docs/commands.md: `{span}` is no chat command: {exc}")


def test_discord_guide_shows_every_command_with_its_options() -> None:
    """docs/discord.md's table is what Discord's menu offers: each path with every option
    (optional ones in brackets), and nothing the command does not have."""
    guide = _read("docs/discord.md")
    table = re.findall(r"^\| `/wirewatch ([^`]+)` \|", guide, re.M)
    rows = {}
    for row in table:
        words = row.split()
        path = tuple(w for w in words if not w.endswith(":") and not w.startswith("["))
        rows[path] = {w.strip("[]:") for w in words if w.endswith(":") or w.endswith(":]")}
    commands = layout()
    assert set(rows) == set(commands), "docs/discord.md's table and the Discord commands differ"
    for path, sub in commands.items():
        assert rows[path] == {a[0] for a in sub.args}, f"/wirewatch {' '.join(path)}"
        for name, _, required in sub.args:
            shown = f"[{name}:]" if not required else f"{name}:"
            assert re.search(rf"(?<!\[){re.escape(shown)}", f" {' '.join(table)} "), shown


def test_discord_shows_each_command_s_help_whole() -> None:
    """Discord's menu shows a subcommand's description, at most 100 characters: the help line
    with who may use it, not cut mid-word (`... --only/--except narrow it t`)."""
    described = {}
    for option in command_payload()["options"]:
        if option["type"] == SUB_COMMAND_GROUP:  # feeds add, feeds list...
            for sub in option["options"]:
                described[f"{option['name']} {sub['name']}"] = sub["description"]
        else:
            described[option["name"]] = option["description"]
    by_path = {" ".join(path): sub for path, sub in layout().items()}
    assert set(described) == set(by_path)
    for name, sub in by_path.items():
        assert described[name] == sub.help + rights_mark(sub), name


def _public(text: str) -> set[str]:
    said = re.search(r"Everyone may use ((?:`[a-z ]+`(?:, | and )?)+)", " ".join(text.split()))
    assert said, "the sentence naming what everyone may use is gone"
    return set(re.findall(r"`([a-z ]+)`", said.group(1)))


@pytest.mark.parametrize(
    "doc", ("README.md", "docs/commands.md", "docs/slack.md", "docs/discord.md")
)
def test_what_everyone_may_use_is_what_the_code_lets_them(doc: str) -> None:
    """A moderator reads this to know who can do what: a command made moderator-only (or
    opened to all) must change the sentence too."""
    public = {s.name.split()[0] for s in SUBCOMMANDS if not s.moderator_only}
    assert _public(_read(doc)) == public


@pytest.mark.parametrize(
    "doc", ("README.md", "docs/commands.md", "docs/slack.md", "docs/discord.md")
)
def test_what_everyone_may_use_names_what_they_may_run_with_arguments(doc: str) -> None:
    """`digest` posts in the channel (moderators), `digest 12h` answers the asker alone
    (everyone): the sentence names the second, as the platform spells it."""
    text = " ".join(_read(doc).split())
    sentence = text[text.index("Everyone may use") :].split(";")[0]
    for sub in SUBCOMMANDS:
        if sub.public_with_args:
            typed = f"`{sub.name} {sub.synopsis.strip('[]')}`"
            option = f"`{sub.name}` with `{sub.args[0][0]}:`"  # Discord's option
            assert typed in sentence or option in sentence, sub.name


def _env_names(text: str) -> set[str]:
    return set(re.findall(r"\b(?:WIREWATCH|SLACK|DISCORD)_[A-Z_]*[A-Z]\b", text))


def _code_env_names() -> set[str]:
    """Environment variable names in the string literals of bot/ and adapters/ (as read,
    and as named to the user in errors and logs)."""
    names: set[str] = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("adapters/*.py")]:
        source = path.read_text(encoding="utf-8")
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.STRING or tok.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
                names |= _env_names(tok.string)
    return names


TEST_ONLY_ENV = {"WIREWATCH_FAILPOINT"}  # bot.failpoints: crash tests, not for users


def test_every_environment_variable_is_documented_and_exists() -> None:
    """An operator sets what the docs name: a name the code reads that no doc gives cannot
    be found, and a name a doc or a message gives that the code never reads does nothing
    (an error saying `check DISCORD_TOKEN` where the token is DISCORD_BOT_TOKEN)."""
    documented = set().union(*(_env_names(_read(d)) for d in DOCS + COMMENTED))
    code = _code_env_names() - TEST_ONLY_ENV
    assert code - documented == set(), "named by the code, in no doc"
    assert documented - code == set(), "named by a doc, unknown to the code"


def _uncommented(text: str) -> str:
    """The shipped config with its commented-out examples switched on."""
    example = re.compile(r"^(\s*)# ((?:- \{|[a-z_]+: ).*)$")
    return "\n".join(
        example.sub(lambda m: m.group(1) + m.group(2).split("  #")[0], line)
        for line in text.splitlines()
    )


def test_the_shipped_config_s_commented_examples_are_valid(tmp_path: Path) -> None:
    """Uncommenting an example of config/wirewatch.yaml (`ops_channel`, a desk filter, a
    digest subscription) gives a config `wirewatch check` accepts."""
    shipped = _read("config/wirewatch.yaml")
    switched = _uncommented(shipped)
    assert switched != shipped
    raw = yaml.safe_load(switched)
    assert "ops_channel" in raw and len(raw["subscriptions"]) > 1
    path = tmp_path / "wirewatch.yaml"
    path.write_text(switched, encoding="utf-8")
    load_checked(path, Gazetteer.load())  # raises ConfigError naming every problem
    for duration in re.search(r"Durations accept ([^.]+)\.", shipped).group(1).split(", "):
        parse_duration(duration)


def _layout() -> str:
    return _read("docs/developers.md").split("\n## Layout\n", 1)[1].split("```")[1]


def test_the_layout_names_every_module_and_only_modules_that_exist() -> None:
    """The layout (docs/developers.md, linked from README) is how a newcomer finds where a
    thing is done: each module of bot/ and adapters/ is there, and each file it names exists."""
    layout_text = _layout()
    named = set(re.findall(r"\b([a-z_]+\.py)\b", layout_text))
    modules = {p.name for p in [*ROOT.glob("bot/*.py"), *ROOT.glob("adapters/*.py")]}
    everywhere = {p.name for p in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("adapters/*.py")]}
    assert modules - named - {"__init__.py"} == set(), "modules the layout does not name"
    assert named - everywhere == set(), "the layout names modules that do not exist"
    for folder in re.findall(r"^ {0,2}([a-z]+)/ ", layout_text, re.M):
        assert (ROOT / folder).is_dir() or (ROOT / "bot" / folder).is_dir(), folder


def _layout_entries() -> dict[str, str]:
    """Each entry of the layout by its name (`topics/`, `cli.py`): its first line and the
    deeper-indented lines that continue it."""
    entries: dict[str, str] = {}
    name = ""
    for line in _layout().splitlines():
        head = re.match(r"^ {0,2}(\S+)", line)
        if head:
            name = head.group(1)
        if name:
            entries[name] = entries.get(name, "") + line + "\n"
    return entries


def test_the_layout_names_every_module_of_each_package_under_its_folder() -> None:
    """A folder's entry (`text/`, `adapters/`) names each of its modules: one left out
    (`text/clip.py`) is a place a newcomer never learns exists."""
    entries = _layout_entries()
    folders = [p for p in (ROOT / "bot").iterdir() if (p / "__init__.py").is_file()]
    unnamed = {}
    for folder in sorted([*folders, ROOT / "adapters"]):
        named = set(re.findall(r"\b([a-z_]+\.py)\b", entries.get(f"{folder.name}/", "")))
        modules = {p.name for p in folder.glob("*.py")} - {"__init__.py"}
        if modules - named:
            unnamed[f"{folder.name}/"] = sorted(modules - named)
    assert unnamed == {}, "modules their folder's entry in the layout does not name"


def test_bench_readme_lists_every_benchmark_and_the_commands_exist() -> None:
    from bench.__main__ import BENCHMARKS

    rows = re.findall(r"^\| `([a-z_]+)` \|", _read("bench/README.md"), re.M)
    assert sorted(rows) == sorted(BENCHMARKS)
    for doc in DOCS:
        for module in re.findall(r"python -m ((?:bench|bot)[a-z_.]*)", _read(doc)):
            assert importlib.util.find_spec(module) is not None, f"{doc}: python -m {module}"


def test_discord_invite_grants_what_the_bot_checks_for() -> None:
    """docs/discord.md's invite URL is the server admin's only way to give the bot its
    rights: its number is the permissions `subscribe` checks, each named in the guide."""
    from adapters.discord_bot import PERMISSIONS
    from adapters.discord_commands import POSTING

    guide = _read("docs/discord.md")
    [asked] = re.findall(r"oauth2/authorize\?\S*permissions=(\d+)", guide)
    assert int(asked) == PERMISSIONS.value
    assert discord.Permissions(**dict.fromkeys(POSTING, True)) == PERMISSIONS
    for shown in POSTING.values():
        assert shown in " ".join(guide.split()), shown


LOGGERS = ("run", "poll", "slack", "discord", "outbox", "digest", "clock", "console", "feed")


def test_every_log_event_the_docs_name_is_logged() -> None:
    """An ops person greps the log for what the docs say to look for (`run.no_adapter`,
    `slack.history_capped`): a renamed event must not leave them grepping for nothing."""
    source = _all_source()
    named = {
        m.group(1)
        for doc in DOCS
        for span in _spans(_read(doc))
        if (m := re.match(rf"^((?:{'|'.join(LOGGERS)})\.[a-z_]+)(?: |$)", span))
    }
    assert {"run.no_adapter", "slack.history_capped", "clock.stepped"} <= named
    keys = {  # `slack.moderators` is a config key, not a log event
        f"{name}.{sub}"
        for name, field in Settings.model_fields.items()
        if isinstance(field.default_factory, type) and issubclass(field.default_factory, BaseModel)
        for sub in field.default_factory.model_fields
    }
    named -= keys
    for event in named:
        assert re.search(rf"""["']{re.escape(event)}[ "']""", source), event


def _all_source() -> str:
    files = [*ROOT.glob("bot/**/*.py"), *ROOT.glob("adapters/*.py")]
    return "\n".join(p.read_text(encoding="utf-8") for p in files)


def test_every_metric_the_docs_name_is_exported() -> None:
    """README's "What to monitor" is what ops put in dashboards and alerts: each series it
    names is one /metrics exports, with the label it gives (`{reason="config changed"}`)."""
    from prometheus_client import Metric

    from bot import metrics

    exposition = metrics.render(lambda: 0).decode()
    exported = set(re.findall(r"^# TYPE (\S+) ", exposition, re.M))
    labels = {
        m._name + ("_total" if m._type == "counter" else ""): set(m._labelnames)
        for m in vars(metrics).values()
        if hasattr(m, "_labelnames") and not isinstance(m, Metric)
    }
    named = re.findall(r"\b(wirewatch_[a-z_]+)(?:\{(\w+)=)?", " ".join(map(_read, DOCS)))
    assert named
    for name, label in named:
        assert name in exported, name
        if label:
            assert label in labels[name], f"{name}{{{label}=...}}"


def test_every_code_name_the_docs_cite_exists() -> None:
    """README's guarantees each cite the test that holds them (`test_crash.py`) and the code
    that does the work (`bot.store_thread.StoreThread`): a renamed file or name leaves a claim with
    nothing behind it."""
    texts = " ".join(map(_read, DOCS + COMMENTED))
    for test in set(re.findall(r"\b(test_\w+\.py)\b", texts)):
        assert (ROOT / "tests" / test).is_file(), test
    for dotted in set(re.findall(r"`((?:bot|bench|adapters)(?:\.\w+)+)", texts)):
        parts = dotted.split(".")
        found = next(i for i in range(len(parts), 0, -1) if _importable(".".join(parts[:i])))
        obj = importlib.import_module(".".join(parts[:found]))
        for attribute in parts[found:]:
            assert hasattr(obj, attribute), dotted
            obj = getattr(obj, attribute)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(text: str) -> set[str]:
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", prose, re.M)}


@pytest.mark.parametrize("doc", DOCS)
def test_every_link_between_the_docs_leads_somewhere(doc: str) -> None:
    """README sends each reader to a docs/ page and a section of it (`operations.md#stopping`);
    a page renamed or a heading reworded must not leave them at a dead link or the top of a
    long page."""
    prose = re.sub(r"^```.*?^```", "", _read(doc), flags=re.S | re.M)
    prose = re.sub(r"`[^`\n]*`", "", prose)  # `[a](b)` in a code span is not a link
    links = re.findall(r"\]\(([^)\s]+)\)", prose)
    for link in links:
        if re.match(r"[a-z]+:", link):
            continue
        path, _, anchor = link.partition("#")
        target = (ROOT / doc).parent / path if path else ROOT / doc
        assert target.exists(), f"{doc}: ({link}) leads to no file"
        if anchor:
            assert target.suffix == ".md", f"{doc}: ({link})"
            assert anchor in _anchors(target.read_text(encoding="utf-8")), f"{doc}: ({link})"


def test_readme_s_first_screen_says_what_to_run_and_where_to_go() -> None:
    """A newcomer (an editor, a moderator, an ops person) finds in the README's first 40
    lines what wirewatch does, the two commands (the demo; the tests CI runs), and a link
    to the page for each of them."""
    first = "\n".join(_read("README.md").splitlines()[:40])
    assert "one** alert" in first and "updates in its thread" in first
    assert re.search(r"^python3 -m venv .*bin/wirewatch demo$", first, re.M)
    ci = _read(".ci/run")
    [tests] = [line for line in ci.splitlines() if "pytest" in line and "venv" in line]
    assert tests.replace(" -q -c", " -c") in first
    for page in ("alerts", "commands", "operations", "configuration", "slack", "discord"):
        assert f"](docs/{page}.md" in first, page
