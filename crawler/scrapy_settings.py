"""Static Scrapy settings for tallywatch crawls (``crawler.run.scrapy_settings`` adds the config-dependent
ones: user agent, page size limits). Polite by default: robots.txt obeyed, 2 requests at a time per
site, a small delay adapted by AutoThrottle, few retries, no cookies."""

BOT_NAME = "tallywatch"

TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

ROBOTSTXT_OBEY = True  # a site without robots.txt (404) allows everything

CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0.5  # randomised by DOWNLOAD_DELAY_JITTER (default 0.5)
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 0.5
AUTOTHROTTLE_MAX_DELAY = 15.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

DOWNLOAD_TIMEOUT = 30
RETRY_ENABLED = True
RETRY_TIMES = 1
REDIRECT_MAX_TIMES = 5

COOKIES_ENABLED = False
HTTPCACHE_ENABLED = False  # conditional GETs are ours (ETag/Last-Modified in Redis)
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False  # Scrapy 2.19 opens an HTTP control server per crawl otherwise

ITEM_PIPELINES = {"crawler.pipelines.StorePipeline": 300}

LOG_LEVEL = "INFO"
LOGSTATS_INTERVAL = 0  # one crawl is short; the stats dict is returned instead

DEFAULT_REQUEST_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/rss+xml,application/atom+xml,"
    "application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en",
}
