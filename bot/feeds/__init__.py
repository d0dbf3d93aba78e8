"""Getting feeds: fetch.py (HTTP with limits), guard.py (SSRF policy), parse.py (feedparser).

Import from the submodules; this package module stays empty so that parser worker processes,
which import bot.feeds.parse, do not pay for aiohttp.
"""
