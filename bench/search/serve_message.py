"""message-service for the search benchmark: `search` counted as implemented when this release
does not list it yet (chat_runtime.features.IMPLEMENTED), so CHAT_FEATURES can switch it on.
Bench only; once the release implements `search` this changes nothing."""

from __future__ import annotations

from chat_runtime import features

if "search" not in features.IMPLEMENTED:
    features.IMPLEMENTED = features.IMPLEMENTED | {"search"}
    features.Features.from_setting.__func__.__defaults__ = (features.IMPLEMENTED,)  # type: ignore[attr-defined]

from message_service.__main__ import main

main()
