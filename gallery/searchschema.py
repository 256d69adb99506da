"""The database side of catalog search: derived columns, indexes and triggers.

Search reads structures that the database itself keeps in step with the catalog, in the same
transaction as every write, whoever writes (the indexer, a settings form, the admin, a bulk
update, a test factory): nothing can forget them, and no repository made private is counted
a moment longer.

PostgreSQL, on `gallery_catalogentry` (columns Django does not know about, never loaded):

- `search_name`: the name's words (split at `/ . _ -`), unstemmed (`simple`, for prefixes as
  typed) and stemmed (`english`), with a GIN index;
- `search_title`: name (weight A) and description (B), stemmed, with a GIN index: the tier
  of relevance below the name (and, having its own statistics, what lets the planner tell
  how rare a word is there);
- `search_all`: name (A), description (B) and about text (C), stemmed, with a GIN index:
  one index answers any query, whichever fields its words are in;
- `search_facets`: facet values as tokens (`t:helm`, `a:arm64`, `o:linux`, `v:1`, `s:1`), with a GIN
  index: a rare combination of filters is found by the index, not by walking the table.

The GIN indexes are written through (`fastupdate = off`): with PostgreSQL's default, the
rows changed since the last vacuum (download counts change all day) wait in a pending list
that every search reads in full (see `_without_pending_lists`).

SQLite (the embedded default): FTS5 tables, `gallery_search` (name, description, about;
Porter stemming) and `gallery_search_name` (the name's words unstemmed, for prefixes), whose
rowid is the entry's.

Both: `gallery_facetgroup` (the model `FacetGroup`) counts listed entries per combination of
facet values and privacy, so that browsing by facets never counts the catalog.

`install()` creates all of it for the columns given (a new facet adds its column to
`GROUP_COLUMNS` and calls `install()` again from a migration); `fill()` computes it for
existing rows. On SQLite, a migration that rebuilds one of the two tables (Django does for
most `AlterField`s there) drops its triggers: such a migration must call `install()` again.
"""

from __future__ import annotations

# The columns of CatalogEntry that facets count by, with privacy last.
GROUP_COLUMNS = ("artifact_type", "platforms", "is_verified", "is_signed", "is_private")
LISTED = "tag_count > 0"  # CatalogEntryQuerySet.listed()


def install(schema_editor, group_columns=GROUP_COLUMNS) -> None:
    for statement in _statements(schema_editor.connection.vendor, group_columns, create=True):
        schema_editor.execute(statement, params=None)


def uninstall(schema_editor, group_columns=GROUP_COLUMNS) -> None:
    for statement in _statements(schema_editor.connection.vendor, group_columns, create=False):
        schema_editor.execute(statement, params=None)


def fill(schema_editor, group_columns=GROUP_COLUMNS) -> None:
    """Compute every derived row and column from the catalog as it is (after install())."""
    columns = ", ".join(group_columns)
    if schema_editor.connection.vendor == "postgresql":
        # Every row at once: through the pending lists, merged in bulk, and written through
        # again afterwards.
        for index in GIN_INDEXES:
            schema_editor.execute(f"ALTER INDEX IF EXISTS {index} SET (fastupdate = on)")
        schema_editor.execute(
            "UPDATE gallery_catalogentry AS e SET "
            "search_name = gallery_name_vector(e.name), "
            "search_title = gallery_search_document(e.name, e.description, ''), "
            "search_all = gallery_search_document(e.name, e.description, "
            "(SELECT about FROM gallery_catalogtext WHERE entry_id = e.repository_id)), "
            "search_facets = gallery_facet_tokens(e.artifact_type, e.platforms, e.is_verified, "
            "e.is_signed)"
        )
        without_pending_lists(schema_editor)
    else:
        schema_editor.execute("DELETE FROM gallery_search")
        schema_editor.execute("DELETE FROM gallery_search_name")
        schema_editor.execute(
            "INSERT INTO gallery_search (rowid, name, description, about) "
            "SELECT e.repository_id, e.name, e.description, coalesce(t.about, '') "
            "FROM gallery_catalogentry AS e LEFT JOIN gallery_catalogtext AS t "
            "ON t.entry_id = e.repository_id"
        )
        schema_editor.execute(
            "INSERT INTO gallery_search_name (rowid, name) "
            "SELECT repository_id, name FROM gallery_catalogentry"
        )
    schema_editor.execute("DELETE FROM gallery_facetgroup")
    schema_editor.execute(
        f"INSERT INTO gallery_facetgroup ({columns}, entries) "
        f"SELECT {columns}, count(*) FROM gallery_catalogentry WHERE {LISTED} "
        f"GROUP BY {columns}"
    )


def _statements(vendor: str, group_columns, *, create: bool) -> list[str]:
    if vendor == "postgresql":
        return _postgresql(group_columns) if create else _postgresql_drop()
    return _sqlite(group_columns) if create else _sqlite_drop()


# -- PostgreSQL ---------------------------------------------------------------------------------

# ASCII punctuation, where names and queries are split into words (gallery.searchsyntax),
# as the content of an SQL string (its quote doubled).
_PUNCTUATION = "!\"#$%&''()*+,-./:;<=>?@[\\]^_`{|}~"

_PG_FUNCTIONS = [
    # Text split into words where a query is: at punctuation. PostgreSQL's parser reads
    # `node.js`, `1.2.3`, `k8s.io/api` or a URL as one token each, which no query of words
    # (a phrase `node <-> js`) could match, where SQLite's FTS5 finds them.
    f"""
    CREATE OR REPLACE FUNCTION gallery_words(content text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT translate(coalesce(content, ''), '{_PUNCTUATION}', '{" " * 32}')
    $$
    """,
    # A name's words unstemmed (`simple`: `monitori`, as typed, is the beginning of
    # `monitoring` but not of its stem `monitor`) and stemmed (`exporters` finds `exporter`).
    """
    CREATE OR REPLACE FUNCTION gallery_name_vector(name text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT to_tsvector('simple'::regconfig, words) || to_tsvector('english'::regconfig, words)
        FROM (SELECT translate(lower(name), '/._-', '    ') AS words) AS split
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION gallery_search_document(name text, description text, about text)
    RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT setweight(gallery_name_vector(name), 'A')
            || setweight(to_tsvector('english'::regconfig, gallery_words(description)), 'B')
            || setweight(to_tsvector('english'::regconfig, gallery_words(about)), 'C')
    $$
    """,
    # " linux/amd64 linux/arm64 " -> {a:amd64, a:arm64, o:linux}; empty parts are no value.
    r"""
    CREATE OR REPLACE FUNCTION gallery_facet_tokens(
        artifact_type text, platforms text, is_verified boolean, is_signed boolean
    ) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT ARRAY['t:' || artifact_type]
            || CASE WHEN is_verified THEN ARRAY['v:1'] ELSE '{}'::text[] END
            || CASE WHEN is_signed THEN ARRAY['s:1'] ELSE '{}'::text[] END
            || ARRAY(
                SELECT DISTINCT token
                FROM regexp_split_to_table(coalesce(platforms, ''), '\s+') AS platform,
                    LATERAL (VALUES ('o:' || split_part(platform, '/', 1)),
                                    ('a:' || split_part(platform, '/', 2))) AS tokens(token)
                WHERE platform LIKE '%/%' AND token !~ ':$'
                ORDER BY token
            )
    $$
    """,
    # Recomputed only when their sources change: copying download counts into 100,000 rows
    # must not re-read 100,000 READMEs.
    """
    CREATE OR REPLACE FUNCTION gallery_catalogentry_search() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' OR NEW.name IS DISTINCT FROM OLD.name
                OR NEW.description IS DISTINCT FROM OLD.description THEN
            NEW.search_name := gallery_name_vector(NEW.name);
            NEW.search_title := gallery_search_document(NEW.name, NEW.description, '');
            NEW.search_all := gallery_search_document(NEW.name, NEW.description, (
                SELECT about FROM gallery_catalogtext WHERE entry_id = NEW.repository_id));
        END IF;
        IF TG_OP = 'INSERT' OR NEW.artifact_type IS DISTINCT FROM OLD.artifact_type
                OR NEW.platforms IS DISTINCT FROM OLD.platforms
                OR NEW.is_verified IS DISTINCT FROM OLD.is_verified
                OR NEW.is_signed IS DISTINCT FROM OLD.is_signed THEN
            NEW.search_facets := gallery_facet_tokens(
                NEW.artifact_type, NEW.platforms, NEW.is_verified, NEW.is_signed);
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE OR REPLACE FUNCTION gallery_catalogtext_search() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            UPDATE gallery_catalogentry
            SET search_all = gallery_search_document(name, description, '')
            WHERE repository_id = OLD.entry_id;
        ELSIF TG_OP = 'INSERT' OR NEW.about IS DISTINCT FROM OLD.about THEN
            UPDATE gallery_catalogentry
            SET search_all = gallery_search_document(name, description, NEW.about)
            WHERE repository_id = NEW.entry_id;
        END IF;
        RETURN NULL;
    END
    $$
    """,
]


def _pg_count_function(group_columns) -> str:
    """One statement-level trigger function: the rows a statement inserted, deleted or
    changed, summed per group, applied in key order (two writers never wait on each other
    in opposite orders). A statement that changes no group (download counts) writes
    nothing."""
    columns = ", ".join(group_columns)
    numbers = ", ".join(str(i + 1) for i in range(len(group_columns)))

    def upsert(changes: str) -> str:
        return (
            f"INSERT INTO gallery_facetgroup AS g ({columns}, entries) "
            f"SELECT {columns}, sum(delta) FROM ({changes}) AS changes "
            f"GROUP BY {numbers} HAVING sum(delta) <> 0 ORDER BY {numbers} "
            f"ON CONFLICT ({columns}) DO UPDATE SET entries = g.entries + excluded.entries;"
        )

    gone = f"SELECT {columns}, -1 AS delta FROM old_rows WHERE {LISTED}"
    new = f"SELECT {columns}, 1 AS delta FROM new_rows WHERE {LISTED}"
    return f"""
    CREATE OR REPLACE FUNCTION gallery_facetgroup_count() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            {upsert(new)}
        ELSIF TG_OP = 'DELETE' THEN
            {upsert(gone)}
        ELSE
            {upsert(gone + " UNION ALL " + new)}
        END IF;
        RETURN NULL;
    END
    $$
    """


def _postgresql(group_columns) -> list[str]:
    return [
        "ALTER TABLE gallery_catalogentry ADD COLUMN IF NOT EXISTS search_name tsvector, "
        "ADD COLUMN IF NOT EXISTS search_title tsvector, "
        "ADD COLUMN IF NOT EXISTS search_all tsvector, "
        "ADD COLUMN IF NOT EXISTS search_facets text[]",
        *_PG_FUNCTIONS,
        _pg_count_function(group_columns),
        *_postgresql_drop_triggers(),
        "CREATE TRIGGER gallery_catalogentry_search BEFORE INSERT OR UPDATE "
        "ON gallery_catalogentry FOR EACH ROW EXECUTE FUNCTION gallery_catalogentry_search()",
        "CREATE TRIGGER gallery_catalogtext_search AFTER INSERT OR UPDATE OR DELETE "
        "ON gallery_catalogtext FOR EACH ROW EXECUTE FUNCTION gallery_catalogtext_search()",
        "CREATE TRIGGER gallery_facetgroup_insert AFTER INSERT ON gallery_catalogentry "
        "REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION gallery_facetgroup_count()",
        "CREATE TRIGGER gallery_facetgroup_update AFTER UPDATE ON gallery_catalogentry "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION gallery_facetgroup_count()",
        "CREATE TRIGGER gallery_facetgroup_delete AFTER DELETE ON gallery_catalogentry "
        "REFERENCING OLD TABLE AS old_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION gallery_facetgroup_count()",
        *[
            f"CREATE INDEX IF NOT EXISTS {index} ON gallery_catalogentry USING gin ({column}) "
            "WITH (fastupdate = off)"
            for index, column in GIN_INDEXES.items()
        ],
        *_without_pending_lists(),
    ]


# The GIN indexes of search, by column.
GIN_INDEXES = {
    "catalog_search_name": "search_name",
    "catalog_search_title": "search_title",
    "catalog_search_all": "search_all",
    "catalog_search_facets": "search_facets",
}


def _without_pending_lists() -> list[str]:
    """Every GIN index of search written through at once (`fastupdate = off`), its pending
    list (if any) merged now.

    With PostgreSQL's default (`fastupdate = on`) every new row version is appended to an
    unsorted pending list that every search of the index reads in full, until the list
    outgrows `gin_pending_list_limit` (4 MB) or a vacuum merges it. The catalog's rows are
    rewritten all day (every flush of download counts is an UPDATE, and `downloads` is
    indexed, so no update is HOT): measured at 100,000 repositories, after 10,000 such
    updates (10,998 rows waiting in the name index's list), a one-letter typo's look-up of its
    540 neighbours took 650 ms instead of 7 ms. Written through, those 10,000 updates took
    6.7 s instead of 2.5 s, in the background where the counts are written."""
    return [
        statement
        for index in GIN_INDEXES
        for statement in (
            f"ALTER INDEX {index} SET (fastupdate = off)",
            f"SELECT gin_clean_pending_list('{index}'::regclass)",
        )
    ]


def without_pending_lists(schema_editor) -> None:
    """Migration 0010: existing GIN indexes of search written through (see above)."""
    if schema_editor.connection.vendor == "postgresql":
        for statement in _without_pending_lists():
            schema_editor.execute(statement, params=None)


def _postgresql_drop_triggers() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {name} ON {table}"
        for name, table in (
            ("gallery_catalogentry_search", "gallery_catalogentry"),
            ("gallery_catalogtext_search", "gallery_catalogtext"),
            ("gallery_facetgroup_insert", "gallery_catalogentry"),
            ("gallery_facetgroup_update", "gallery_catalogentry"),
            ("gallery_facetgroup_delete", "gallery_catalogentry"),
        )
    ]


def _postgresql_drop() -> list[str]:
    return [
        *_postgresql_drop_triggers(),
        "DROP FUNCTION IF EXISTS gallery_catalogentry_search()",
        "DROP FUNCTION IF EXISTS gallery_catalogtext_search()",
        "DROP FUNCTION IF EXISTS gallery_facetgroup_count()",
        "ALTER TABLE gallery_catalogentry DROP COLUMN IF EXISTS search_name, "
        "DROP COLUMN IF EXISTS search_title, DROP COLUMN IF EXISTS search_all, "
        "DROP COLUMN IF EXISTS search_facets",
        "DROP FUNCTION IF EXISTS gallery_search_document(text, text, text)",
        "DROP FUNCTION IF EXISTS gallery_name_vector(text)",
        "DROP FUNCTION IF EXISTS gallery_words(text)",
        "DROP FUNCTION IF EXISTS gallery_facet_tokens(text, text, boolean, boolean)",
    ]


# -- SQLite -------------------------------------------------------------------------------------

_SQLITE_TRIGGERS = (
    "gallery_search_entry_insert",
    "gallery_search_entry_update",
    "gallery_search_entry_delete",
    "gallery_search_text_insert",
    "gallery_search_text_update",
    "gallery_search_text_delete",
    "gallery_facetgroup_insert",
    "gallery_facetgroup_update",
    "gallery_facetgroup_delete",
)


def _sqlite(group_columns) -> list[str]:
    columns = ", ".join(group_columns)
    old_key = " AND ".join(f"{c} = old.{c}" for c in group_columns)
    changed = " OR ".join(f"old.{c} IS NOT new.{c}" for c in group_columns)
    new_values = ", ".join(f"new.{c}" for c in group_columns)
    add_new = (
        f"INSERT INTO gallery_facetgroup ({columns}, entries) SELECT {new_values}, 1 "
        f"WHERE new.{LISTED} "
        f"ON CONFLICT ({columns}) DO UPDATE SET entries = entries + 1;"
    )
    return [
        "CREATE VIRTUAL TABLE IF NOT EXISTS gallery_search USING fts5("
        "name, description, about, tokenize = 'porter unicode61 remove_diacritics 2')",
        "CREATE VIRTUAL TABLE IF NOT EXISTS gallery_search_name USING fts5("
        "name, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')",
        *[f"DROP TRIGGER IF EXISTS {name}" for name in _SQLITE_TRIGGERS],
        """
        CREATE TRIGGER gallery_search_entry_insert AFTER INSERT ON gallery_catalogentry BEGIN
            INSERT INTO gallery_search (rowid, name, description, about) VALUES (
                new.repository_id, new.name, new.description, coalesce(
                    (SELECT about FROM gallery_catalogtext WHERE entry_id = new.repository_id),
                    ''));
            INSERT INTO gallery_search_name (rowid, name) VALUES (new.repository_id, new.name);
        END
        """,
        """
        CREATE TRIGGER gallery_search_entry_update AFTER UPDATE OF name, description
        ON gallery_catalogentry
        WHEN old.name IS NOT new.name OR old.description IS NOT new.description BEGIN
            UPDATE gallery_search SET name = new.name, description = new.description
            WHERE rowid = new.repository_id;
            UPDATE gallery_search_name SET name = new.name WHERE rowid = new.repository_id;
        END
        """,
        """
        CREATE TRIGGER gallery_search_entry_delete AFTER DELETE ON gallery_catalogentry BEGIN
            DELETE FROM gallery_search WHERE rowid = old.repository_id;
            DELETE FROM gallery_search_name WHERE rowid = old.repository_id;
        END
        """,
        """
        CREATE TRIGGER gallery_search_text_insert AFTER INSERT ON gallery_catalogtext BEGIN
            UPDATE gallery_search SET about = new.about WHERE rowid = new.entry_id;
        END
        """,
        """
        CREATE TRIGGER gallery_search_text_update AFTER UPDATE OF about ON gallery_catalogtext
        WHEN old.about IS NOT new.about BEGIN
            UPDATE gallery_search SET about = new.about WHERE rowid = new.entry_id;
        END
        """,
        """
        CREATE TRIGGER gallery_search_text_delete AFTER DELETE ON gallery_catalogtext BEGIN
            UPDATE gallery_search SET about = '' WHERE rowid = old.entry_id;
        END
        """,
        f"""
        CREATE TRIGGER gallery_facetgroup_insert AFTER INSERT ON gallery_catalogentry BEGIN
            {add_new}
        END
        """,
        f"""
        CREATE TRIGGER gallery_facetgroup_update AFTER UPDATE ON gallery_catalogentry
        WHEN ({changed}) OR (old.{LISTED}) IS NOT (new.{LISTED}) BEGIN
            UPDATE gallery_facetgroup SET entries = entries - 1
            WHERE old.{LISTED} AND {old_key};
            {add_new}
        END
        """,
        f"""
        CREATE TRIGGER gallery_facetgroup_delete AFTER DELETE ON gallery_catalogentry BEGIN
            UPDATE gallery_facetgroup SET entries = entries - 1
            WHERE old.{LISTED} AND {old_key};
        END
        """,
    ]


def _sqlite_drop() -> list[str]:
    return [
        *[f"DROP TRIGGER IF EXISTS {name}" for name in _SQLITE_TRIGGERS],
        "DROP TABLE IF EXISTS gallery_search",
        "DROP TABLE IF EXISTS gallery_search_name",
    ]
