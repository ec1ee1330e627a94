"""Test doubles shipped with stockdb: the fake Alpaca server (:mod:`.fake_alpaca`)."""
