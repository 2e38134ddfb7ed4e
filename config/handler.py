"""Django's ASGI handler, made to run the sync request path in one thread hop, a
bounded number at a time.

Every view and middleware in Answerable is synchronous. Django's own ASGI handler runs
the middleware chain in async mode, so each middleware's `process_request` and
`process_response` and then the view each cross to a worker thread and back: twenty
hops for a page (tests/test_asgi.py counts them), which py-spy showed as a large share
of a request's time (bench/README.md, problem 12). This handler builds the chain in
sync mode and runs all of it, view included, in a single `sync_to_async` call per
request, exactly as under WSGI; reading the body and writing the response stay async,
and WebSockets are untouched (Channels routes them elsewhere).

Each request still gets a thread of its own, but at most `ASGI_THREADS` of them run
Django code at once in a process; the rest wait on the event loop. Hundreds of threads
contending for the GIL cost more than they overlap: see bench/README.md, problem 12.
"""

import asyncio

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler


class OneHopASGIHandler(ASGIHandler):
    def __init__(self):
        base.BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self._slots = None

    async def get_response_async(self, request):
        if self._slots is None:  # made on the running loop, once per process
            self._slots = asyncio.Semaphore(settings.ASGI_THREADS)
        async with self._slots:
            return await sync_to_async(self.get_response, thread_sensitive=True)(request)
