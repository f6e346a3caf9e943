"""Search (api-v1.1 D, ADR 0010): the `unaccent` and `btree_gin` extensions, the text search
configuration `chat_english` (words through `unaccent`, then the English stemmer), a partial GIN
expression index over the text entries that are not deleted (by room and words), a partial
newest-first btree index over the same entries, and statistics on the words.

No column is added, so `messages` is not rewritten: building the indexes takes a SHARE lock (writes
wait, reads go on) for as long as the build lasts. On a large table create them beforehand with
`CREATE INDEX CONCURRENTLY` (the statements in ADR 0010); this migration then skips them.

Both extensions are "trusted" (PostgreSQL >= 13): the database owner may create them without
being a superuser; they need the server's contrib modules (postgresql-contrib).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# The same expression as store/search.py SEARCH_VECTOR (a query uses the index only when it
# repeats the index's expression exactly).
_INDEX = (
    "CREATE INDEX IF NOT EXISTS messages_search ON messages "
    "USING gin (room_id, to_tsvector('chat_english'::regconfig, replace(text, '<', ' '))) "
    "WHERE kind = 'text' AND NOT deleted"
)
# Newest first, for words found in a large share of the messages: walking this index and
# checking each message beats collecting every match from the GIN index and sorting them.
_RECENT = (
    "CREATE INDEX IF NOT EXISTS messages_search_recent ON messages "
    "(created_at DESC, id DESC) WHERE kind = 'text' AND NOT deleted"
)
_STATISTICS = (
    "CREATE STATISTICS IF NOT EXISTS messages_search_words "
    "ON (to_tsvector('chat_english'::regconfig, replace(text, '<', ' '))) FROM messages"
)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    # english with accents folded first (unaccent is a filtering dictionary: its output goes on
    # to english_stem). asciiword needs no unaccent.
    op.execute(
        """
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'chat_english') THEN
                CREATE TEXT SEARCH CONFIGURATION chat_english (COPY = english);
                ALTER TEXT SEARCH CONFIGURATION chat_english
                    ALTER MAPPING FOR hword, hword_part, word WITH unaccent, english_stem;
            END IF;
        END
        $$
        """
    )
    op.execute(_INDEX)
    op.execute(_RECENT)
    # Statistics of the words (most common lexemes and their frequencies): the planner needs
    # them to tell a rare word (GIN index) from a common one (newest-first scan). PostgreSQL
    # keeps none for the expressions of a partial index. Gathered by the next ANALYZE.
    op.execute(_STATISTICS)
    op.execute("ANALYZE messages")


def downgrade() -> None:
    op.execute("DROP STATISTICS IF EXISTS messages_search_words")
    op.execute("DROP INDEX IF EXISTS messages_search_recent")
    op.execute("DROP INDEX IF EXISTS messages_search")
    op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS chat_english")
    # The extensions stay: something else in the database may use them.
