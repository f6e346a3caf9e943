"""Cross-service test tiers share the fixtures of chat_devtools (stack, private broker/database)."""

pytest_plugins = ["chat_devtools.pytest_plugin"]
