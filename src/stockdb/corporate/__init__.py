"""Corporate actions: splits and cash dividends, adjustment factors applied on read, staleness."""

__all__: list[str] = []
