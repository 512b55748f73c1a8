"""The web app (``tallywatch serve``): the events pages people read, the subscriptions API, the
operators' schedule pages. It reads what the crawler and alerts stages wrote to Redis."""
