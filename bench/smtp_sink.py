"""A local SMTP sink for the digest benchmark: accepts every mail on 127.0.0.1 and
appends one line per recipient to a log: <recipient>\t<Message-ID>. Nothing is
delivered anywhere.

One asyncio process (aiosmtpd) spends most of its time in Python per mail and per
reply: measured at ~60 mails/s it was busy two thirds of the time, so it would be the
limit before the workers are. Like an MTA with several smtpd processes, the sink can
run `--processes N` processes listening on the same port (SO_REUSEPORT: the kernel
spreads the connections); each appends whole lines to the one log (O_APPEND).

    .venv/bin/python bench/smtp_sink.py --port 8025 --log bench/results/sink.log
    .venv/bin/python bench/smtp_sink.py --port 8025 --log sink.log --processes 2
"""

import argparse
import asyncio
import multiprocessing
import os
import re
import signal

from aiosmtpd.smtp import SMTP

MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)
LIFETIME = 3600  # bounded: never outlives an hour


class Sink:
    def __init__(self, log_path: str):
        self.log = open(log_path, "a", buffering=1)  # noqa: SIM115 - open for the life of the sink

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        header = envelope.original_content or envelope.content
        if isinstance(header, str):
            header = header.encode()
        found = MESSAGE_ID.search(header.split(b"\r\n\r\n", 1)[0])
        message_id = found.group(1).decode() if found else "-"
        for rcpt in envelope.rcpt_tos:
            # One short write per line: appends from several processes never interleave.
            self.log.write(f"{rcpt}\t{message_id}\n")
        return "250 Message accepted"


def serve(port: int, log_path: str, ready) -> None:
    """Runs one sink process until SIGTERM (or LIFETIME)."""
    loop = asyncio.new_event_loop()
    sink = Sink(log_path)
    server = loop.run_until_complete(
        loop.create_server(
            lambda: SMTP(sink, hostname="sink.localhost"), "127.0.0.1", port, reuse_port=True
        )
    )
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGINT, loop.stop)
    loop.call_later(LIFETIME, loop.stop)
    ready.set()
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    context = multiprocessing.get_context("fork")
    children = []
    for _ in range(args.processes - 1):
        ready = context.Event()
        child = context.Process(target=serve, args=(args.port, args.log, ready), daemon=True)
        child.start()
        if not ready.wait(30):
            raise SystemExit("a sink process did not start")
        children.append(child)

    class Announce:
        def set(self) -> None:
            print("ready", flush=True)

    try:
        serve(args.port, args.log, Announce())
    finally:
        for child in children:  # ours, by pid
            if child.is_alive():
                os.kill(child.pid, signal.SIGTERM)
            child.join(10)


if __name__ == "__main__":
    main()
