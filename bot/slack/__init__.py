"""Bron in Slack: the Bolt app, its listeners, Block Kit rendering, and the Socket Mode / HTTP servers.

The only package that imports `slack_bolt`. Listeners turn payloads into questions, acknowledge
within Slack's 3 seconds, and hand the slow work (retrieval, generation, recording) to lazy
listeners that call the same `bot.asking.ask` as every other surface.
"""
