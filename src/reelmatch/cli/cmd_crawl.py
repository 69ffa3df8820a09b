NAME = "crawl"
HELP = "catalogue from movie pages (Scrapy)"
EXAMPLE = "reelmatch crawl imdb --ids tt0111161 -o manifest.jsonl"


def add_arguments(p) -> None:
    pass


def run(args) -> int:
    from reelmatch.errors import NotBuiltError

    raise NotBuiltError("'crawl' is not built yet (issue #10)")
