"""Implementations of the domain's ports, named by technology. No Sanic here."""
