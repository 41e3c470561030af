# Connect to a server listening on the grader's loopback, and to the outside world.
import json
import socket

PORT = int("__PORT__")
got, err = [], None
for host, port in (("127.0.0.1", PORT), ("localhost", PORT), ("1.1.1.1", 53)):
    try:
        socket.create_connection((host, port), timeout=2).close()
        got.append(f"{host}:{port}")
    except OSError as e:
        err = e
print("ATTACK", json.dumps({"attack": "network", "got": got, "error": repr(err)}))
if err is not None:
    raise err


def batch_mean(x):
    return x.mean(axis=0)
