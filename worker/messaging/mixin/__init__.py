"""The Mixin Messenger client, written to ``specs/mixin-protocol.md``.

Pure parts, tested with bytes: ``keystore`` and ``tokens`` (who the bot is, EdDSA JWTs),
``ids`` (UniqueConversationId, UniqueObjectId, message ids), ``payloads`` (the data of every
bot-sendable category), ``batching`` (100 messages / 128 KB), ``frames`` and ``correlation``
(Blaze envelopes, replies matched by id), ``responses`` (HTTP envelopes, the 401 diagnosis),
``backoff``. Thin connection code: ``blaze_connection`` and ``blaze`` (websocket-client),
``http`` (requests), and ``blaze_transport``, which routes categories between the two.
"""
