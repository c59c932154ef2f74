"""The SQL record of every answer, and the feedback that turns wrong answers into fixes.

Its own top-level home because both the bot (writes) and the review tools and exports (read) use it,
and neither retrieval nor serving should know about it. SQLAlchemy 2.0 typed ORM; Alembic migrations;
SQLite for the embedded default, PostgreSQL in production; the same code and tests run on both.
"""
