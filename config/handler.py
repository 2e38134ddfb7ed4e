"""Django's ASGI handler, made to serve each request in one call on a small, reused
pool of threads.

Every view and middleware in Answerable is synchronous. Django's own ASGI handler
runs the middleware chain in async mode, so each middleware's `process_request` and
`process_response` and then the view each cross to a worker thread and back: twenty
hops for a page (tests/test_asgi.py counts them), which py-spy showed as a large share
of a request's time (bench/README.md, problem 12). And each request gets a new thread
of its own (asgiref's ThreadSensitiveContext), started and stopped around it.

This handler builds the chain in sync mode, as under WSGI, and runs everything a
request does in Django in one call: the request_started signal, the middleware chain
and the view, and for a response already in memory its close() (request_finished:
database connections go back). A streamed response (Answerable has none) is read and
closed as Django's handler does it. Reading the body and writing the response stay async,
and WebSockets are untouched (Channels routes them elsewhere). The calls run on
`ASGI_THREADS` threads per process, reused from request to request, each call in a
copy of the request's context (so nothing one request sets is seen by the next); the
other requests wait on the event loop. Hundreds of threads contending for the GIL cost
more than they overlap: see bench/README.md, problems 12 and 17.
"""

import logging
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import close_old_connections
from django.urls import set_script_prefix

logger = logging.getLogger(__name__)


class OneHopASGIHandler(ASGIHandler):
    def __init__(self):
        base.BaseHandler.__init__(self)
        self.load_middleware(is_async=False)
        self._threads = None

    def _in_thread(self, function):
        if self._threads is None:  # made on first use, once per process (after a fork)
            self._threads = ThreadPoolExecutor(
                max_workers=settings.ASGI_THREADS, thread_name_prefix="django"
            )
        return sync_to_async(function, thread_sensitive=False, executor=self._threads)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        with closing(body_file):
            response = await self._in_thread(self._serve)(scope, body_file)
            if not response.streaming:
                await self.send_response(response, send)
                return
            # A streamed body is read, and the response closed, on one thread of the
            # request's own, as Django does: the connections the body opens are that
            # thread's, and closing the response gives them back.
            async with ThreadSensitiveContext():
                try:
                    await self.send_response(response, send)
                finally:
                    await sync_to_async(response.close)()

    def _serve(self, scope, body_file):
        """Everything Django does for one request, in one thread."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        try:
            request, response = self.create_request(scope, body_file)
            if request is not None:
                response = self.get_response(request)
                response._handler_class = self.__class__
        except BaseException:
            close_old_connections()
            raise
        if response.streaming:
            close_old_connections()  # the view's; the body's go back when it is closed
            return response
        try:
            response.close()  # request_finished: connections are closed or returned
        except Exception:
            # The answer is made (a vote may be committed): send it all the same. The
            # next request on this thread closes what was left open.
            logger.exception("Closing a response failed; it is sent anyway.")
        return response
