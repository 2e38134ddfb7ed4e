"""The production settings plus the benchmark's bare baseline endpoint.

The product's URLs never contain a benchmark endpoint: only this module, used by the
benchmark harness alone, wraps them and adds `/bench/bare/`. Everything else is
config.settings as read from the environment (the harness sets DEBUG=0, the secret
keys, PostgreSQL, Redis db 11 and DATABASE_POOL=1 for the ASGI server).
"""

import os

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

# BENCH_CHANNELS_SOCKET_TIMEOUT=30: the proposed fix for the channel layer's Redis
# connections (see bench/README.md): redis-py 8 times reads out after 5 s by default,
# exactly as long as channels_redis blocks in BZPOPMIN, so an idle consumer's read
# can time out and close its WebSocket. Off unless set.
if os.environ.get("BENCH_CHANNELS_SOCKET_TIMEOUT") and CHANNEL_LAYERS["default"][  # noqa: F405
    "BACKEND"
].startswith("channels_redis"):
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [  # noqa: F405
        {
            "address": os.environ["REDIS_URL"],
            "socket_timeout": float(os.environ["BENCH_CHANNELS_SOCKET_TIMEOUT"]),
        }
    ]
