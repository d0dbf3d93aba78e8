"""The interface every chat platform implements; defined in the core, re-exported here.

Adapters import from here so that `adapters/` reads as a package of its own, while `bot/`
stays free of any platform.
"""

from bot.chat import ChatAdapter, CommandHandler, split_channel
from bot.errors import DeliveryError
from bot.model import Alert, MessageRef

__all__ = ["Alert", "ChatAdapter", "CommandHandler", "DeliveryError", "MessageRef", "split_channel"]
