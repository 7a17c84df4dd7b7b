#!/usr/bin/env python3
"""moto's server, with DynamoDB's requests isolated from one another as on AWS.

Usage: .venv/bin/python scripts/moto-server.py -H 127.0.0.1 -p PORT (moto_server's options)

moto serves requests on threads and does not isolate DynamoDB's TransactWriteItems:
a transaction copies the whole table before it starts and, when one of its
conditions fails, puts that copy back, undoing every write other requests made to
the table meanwhile. Two workers counting their shards at once (one of them a
duplicate whose condition fails) then lose or double a count, which DynamoDB never
does. Here every DynamoDB request runs alone; S3 and SQS stay concurrent.
"""

import sys
import threading
from functools import wraps

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_one_at_a_time = threading.Lock()
_call_action = DynamoHandler.call_action


@wraps(_call_action)
def _isolated(self):
    with _one_at_a_time:
        return _call_action(self)


DynamoHandler.call_action = _isolated

if __name__ == "__main__":
    main(sys.argv[1:])
