"""Text handling: HTML to plain text, an article's main text, and the alert's summary.

`bot.text.clean` turns markup into text and drops boilerplate; `bot.text.summary` picks the
sentences an alert shows. Both are pure functions over strings: nothing here fetches.
"""
