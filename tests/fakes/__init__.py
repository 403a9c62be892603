"""Local fake provider APIs (aiohttp on 127.0.0.1, random port) that record requests.

Reusable by any test: start one with ``await FakeTwilio().start()`` (or the
Telegram one) and point the settings' base URL at ``fake.url``.
"""
