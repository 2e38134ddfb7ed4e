"""The production settings plus the benchmark's bare baseline endpoint.

The product's URLs never contain a benchmark endpoint: only this module, used by the
benchmark harness alone, wraps them and adds `/bench/bare/`. Everything else is
config.settings as read from the environment (the harness sets DEBUG=0, the secret
keys, PostgreSQL, Redis db 11 and DATABASE_POOL=1 for the ASGI server).
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
