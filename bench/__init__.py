"""Issue 4's benchmark: ``make bench`` (``python -m bench``); see ``bench/run.py``."""
