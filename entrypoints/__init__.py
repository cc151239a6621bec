"""The Sanic HTTP edge: parse, call a use case, serialise. ``python -m entrypoints`` serves."""
