"""Unit tests of the IM REST client's pure parts, with values and bytes."""
