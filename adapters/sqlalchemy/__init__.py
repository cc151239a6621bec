"""The user store in SQL through SQLAlchemy Core: MariaDB/MySQL (aiomysql), PostgreSQL (asyncpg),
SQLite (aiosqlite)."""
