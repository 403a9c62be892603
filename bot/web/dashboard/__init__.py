"""The coach dashboard: login, queue, items, participants, users (server-rendered).

aiohttp handlers render Jinja2 templates (autoescaped) from ``templates/``; there
is no front-end build step and no script is needed to use any page.
"""

import bot.web.dashboard.views_auth
import bot.web.dashboard.views_items
import bot.web.dashboard.views_participants
import bot.web.dashboard.views_queue
import bot.web.dashboard.views_schedule
import bot.web.dashboard.views_sessions
import bot.web.dashboard.views_static
import bot.web.dashboard.views_users  # noqa: F401 - each view module adds its routes
from bot.web.dashboard.routing import routes

__all__ = ["routes"]
