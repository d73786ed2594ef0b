"""Everything blazecast says to a messaging provider goes through this package.

- ``transport``: the ``Transport`` interface the sender uses, and the values that cross it
  (``OutgoingMessage``, ``Receipt``, ``IncomingMessage``);
- ``errors``: the one error tree (transient vs permanent) every caller branches on;
- ``fake``: ``FakeTransport``, the in-memory stand-in for unit tests of the layers above;
- ``factory``: ``make_transport``, which builds the configured transport from plain parameters;
- ``mixin/``: the Mixin Messenger client itself (keystore, JWT, ids, payloads, Blaze, HTTP).

Nothing above this package imports ``websocket`` or ``requests``, and nothing in it reads
configuration or touches the database: every dependency is passed in.
"""
