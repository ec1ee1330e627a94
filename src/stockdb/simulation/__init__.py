"""Simulation: model signals traded in whole shares, metrics and the buy-and-hold benchmark."""
