from gallery.versions import sort_key


def newest_first(tags):
    return sorted(tags, key=lambda tag: (sort_key(tag), tag), reverse=True)


def test_versions_sort_numerically_not_alphabetically():
    assert newest_first(["1.9.0", "1.10.0", "1.2.0"]) == ["1.10.0", "1.9.0", "1.2.0"]


def test_prereleases_sort_below_their_release():
    assert newest_first(["2.0.0-rc.1", "2.0.0", "2.0.0-beta.2", "1.9.9"]) == [
        "2.0.0",
        "2.0.0-rc.1",
        "2.0.0-beta.2",
        "1.9.9",
    ]


def test_latest_comes_first_and_words_last():
    assert newest_first(["stable", "1.0", "latest"]) == ["latest", "1.0", "stable"]


def test_variant_suffixes_sort_with_their_version():
    assert newest_first(["1.2.0-alpine", "1.10.0-alpine", "1.10.0"]) == [
        "1.10.0",
        "1.10.0-alpine",
        "1.2.0-alpine",
    ]


def test_v_prefix_is_read_as_a_version():
    assert newest_first(["v1.10", "v1.9"]) == ["v1.10", "v1.9"]
