"""Bar sources: one protocol, several implementations (synthetic, Alpaca, files)."""
