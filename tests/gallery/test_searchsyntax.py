"""The search box's syntax, read without a database."""

from gallery.searchsyntax import MAX_ITEMS, MAX_WORDS, Phrase, parse


def phrases(text: str) -> list[tuple[str, ...]]:
    return [phrase.words for clause in parse(text).clauses for phrase in clause]


def test_words_are_split_where_repository_names_are_split():
    assert phrases("redis-exporter hello_world library/nginx v1.2") == [
        ("redis", "exporter"),
        ("hello", "world"),
        ("library", "nginx"),
        ("v1", "2"),
    ]


def test_every_word_must_match_and_or_joins_its_neighbours():
    query = parse("web nginx or apache proxy")
    assert [[p.words for p in clause] for clause in query.clauses] == [
        [("web",)],
        [("nginx",), ("apache",)],
        [("proxy",)],
    ]


def test_quoted_words_are_a_phrase_and_never_a_prefix():
    query = parse('"web server"')
    assert query.clauses == ((Phrase(("web", "server")),),)


def test_an_unclosed_quote_runs_to_the_end():
    assert phrases('"web server') == [("web", "server")]


def test_minus_excludes_a_word_or_a_phrase():
    query = parse('proxy -nginx -"load balancer"')
    assert phrases('proxy -nginx -"load balancer"') == [("proxy",)]
    assert [p.words for p in query.excluded] == [("nginx",), ("load", "balancer")]


def test_the_last_word_typed_may_be_the_start_of_a_name():
    assert parse("postg").clauses[0][0].prefix
    assert parse("redis-ex").clauses[0][0].prefix
    assert not parse("po").clauses[0][0].prefix  # too short alone
    assert not parse("postg redis").clauses[0][0].prefix  # not the last word
    assert not parse("redis -postg").clauses[0][0].prefix


def test_a_pasted_repository_name_reads_as_a_name():
    assert parse("library/nginx").name == "library/nginx"
    assert parse("  Library/Nginx ").name == "library/nginx"
    assert parse("nginx proxy").name == ""
    assert parse('"nginx"').name == ""


def test_fifty_hyphens_are_an_empty_query():
    assert not parse("-" * 50)
    assert not parse("- -- --- or -")


def test_long_input_is_capped_in_items_and_words():
    query = parse(" ".join(f"w{i}" for i in range(50)))
    assert len(query.clauses) == MAX_ITEMS
    assert len(parse("a" + "-b" * 50).clauses[0][0].words) == MAX_WORDS


def test_control_characters_and_compatibility_forms_are_normalized():
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in "nginx")
    assert phrases(f"{fullwidth}\x00\tproxy") == [("nginx",), ("proxy",)]
