"""The IM REST client against the fake IM REST server, over real loopback sockets."""
