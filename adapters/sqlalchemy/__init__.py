"""The user store in SQL through SQLAlchemy Core: MariaDB/MySQL (aiomysql), SQLite (aiosqlite)."""
