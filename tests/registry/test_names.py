import pytest

from registry import names


@pytest.mark.parametrize("name", ["alice/app", "a1/b.c/d_e/f__g/h--i", "library/ubuntu", "ab"])
def test_valid_repository_names(name):
    assert names.is_valid_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "Alice/app",
        "alice//app",
        "alice/app/",
        "/alice",
        "a",
        "alice/-app",
        "alice/app.",
        "alice/a___b",
        "x" * 256,
    ],
)
def test_invalid_repository_names(name):
    assert not names.is_valid_name(name)


@pytest.mark.parametrize("tag", ["latest", "v1.0.0", "_x", "A" * 128, "1.0-rc.1_b"])
def test_valid_tags(tag):
    assert names.is_valid_tag(tag)


@pytest.mark.parametrize("tag", ["", ".x", "-x", "A" * 129, "a/b", "a:b"])
def test_invalid_tags(tag):
    assert not names.is_valid_tag(tag)


def test_namespace_is_the_first_component():
    assert names.namespace_of("alice/tools/app") == "alice"


def test_a_top_level_name_belongs_to_no_namespace():
    assert names.namespace_of("internal") == ""
