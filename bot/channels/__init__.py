"""Messenger adapters. Each translates its messenger's updates into
:class:`bot.messages.Incoming`, and renders and delivers :class:`bot.messages.Reply`.
They decide nothing about what to say: that is the dialogue engine's job."""
