import pytest

from crawler.canonical import canonical_url, is_tracking_param, same_origin


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Example.COM/News/Story", "http://example.com/News/Story"),  # path case is significant
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com./a", "https://example.com/a"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com/a?utm_source=rss&utm_medium=feed&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?fbclid=XYZ&gclid=1&mc_cid=2&mc_eid=3&ocid=4", "https://example.com/a"),
        ("https://www.bbc.co.uk/news/world-123?at_medium=RSS&at_campaign=KARANGA",
         "https://www.bbc.co.uk/news/world-123"),
        ("https://example.com/a?UTM_Source=x&page=2", "https://example.com/a?page=2"),
        ("https://example.com/news/index.html", "https://example.com/news/"),
        ("https://example.com/index.htm?x=1", "https://example.com/?x=1"),
        ("https://example.com/%7Euser/caf%c3%a9", "https://example.com/~user/caf%C3%A9"),
        ("https://example.com/a?q=", "https://example.com/a?q="),  # blank values kept
        ("  https://example.com/a  ", "https://example.com/a"),
    ],
)
def test_canonical_url(raw, expected):
    assert canonical_url(raw) == expected


def test_equivalent_spellings_collapse():
    spellings = [
        "https://News.Example.com/2025/07/04/kyiv-attack?utm_source=twitter#top",
        "https://news.example.com:443/2025/07/04/kyiv-attack",
        "https://news.example.com/2025/07/04/kyiv-attack?fbclid=abc",
    ]
    assert len({canonical_url(u) for u in spellings}) == 1


def test_relative_with_base_and_idempotence():
    url = canonical_url("../world/story?b=1&a=2&utm_campaign=x", base="https://example.com/news/live/")
    assert url == "https://example.com/news/world/story?a=2&b=1"
    assert canonical_url(url) == url


@pytest.mark.parametrize("bad", ["mailto:desk@example.com", "ftp://example.com/x", "/relative/only", "https://"])
def test_non_http_urls_rejected(bad):
    with pytest.raises(ValueError):
        canonical_url(bad)


def test_tracking_params_and_origin():
    assert is_tracking_param("utm_content") and is_tracking_param("fbclid") and is_tracking_param("at_custom1")
    assert not is_tracking_param("id") and not is_tracking_param("page")
    assert same_origin("http://127.0.0.1:8000/a", "http://127.0.0.1:8000/b/c")
    assert not same_origin("http://127.0.0.1:8000/a", "http://127.0.0.1:8001/a")
    assert same_origin("https://example.com/a", "https://example.com:443/b")
    assert not same_origin("https://example.com/a", "http://example.com/a")
