"""Text handling: HTML to plain text, an article's main text, and the alert's summary.

`bot.text.clean` turns markup into text and drops boilerplate; `bot.text.summary` picks the
sentences an alert shows; `bot.text.wire` takes off the wire slugs, agency tags and bylines
that matching and grouping should not read as words. All are pure functions over strings:
nothing here fetches.
"""
