"""A local SMTP sink for the digest benchmark: accepts every mail on 127.0.0.1 and
appends one line per recipient to a log: <recipient>\t<Message-ID>. Nothing is
delivered anywhere.

    .venv/bin/python bench/smtp_sink.py --port 8025 --log bench/results/sink.log
"""

import argparse
import re
import signal
import threading

from aiosmtpd.controller import Controller

MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


class Sink:
    def __init__(self, log_path: str):
        self.log = open(log_path, "a", buffering=1)  # noqa: SIM115 - open for the life of the sink
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        header = envelope.original_content or envelope.content
        if isinstance(header, str):
            header = header.encode()
        found = MESSAGE_ID.search(header.split(b"\r\n\r\n", 1)[0])
        message_id = found.group(1).decode() if found else "-"
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.log.write(f"{rcpt}\t{message_id}\n")
        return "250 Message accepted"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()
    controller = Controller(Sink(args.log), hostname="127.0.0.1", port=args.port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait(3600)  # bounded: never outlives an hour
    controller.stop()


if __name__ == "__main__":
    main()
