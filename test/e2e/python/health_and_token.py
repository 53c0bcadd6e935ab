"""A non-Node wxtoken client: Debian's python3-grpcio, no generated stubs, no .proto files.

Run with the Debian interpreter (the package installs into /usr/bin/python3):

    /usr/bin/python3 test/e2e/python/health_and_token.py 127.0.0.1:50051 APPID

It does what grpcurl does, by hand:
  1. grpc.health.v1.Health/Check for '', wxtoken.v1.TokenService and wxtoken.v1.LoginService;
  2. server reflection (grpc.reflection.v1, falling back to v1alpha): list_services;
  3. wxtoken.v1.TokenService/GetToken with request bytes encoded by hand (GetTokenRequest
     field 1, wire type 2: tag 0x0a, varint length, UTF-8 bytes), the reply decoded by hand;
  4. the file descriptors of wxtoken.v1.TokenService through reflection, loaded into a
     google.protobuf DescriptorPool as strictly as grpcurl loads them, then GetToken again with
     message classes built from them.

It prints one JSON object on stdout. Exit 0 when 1-3 worked, 1 otherwise (the JSON then carries
"error"); whether 4 worked is in "descriptors" ({"ok": false, "error": ...} when the reflected
descriptors do not load). Test-only: the JSON includes the access token so the test can check
it at the simulator; a real client must never print or log a token.
"""

import json
import sys
import time

try:
    import grpc
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError as exc:  # pragma: no cover - the TS test checks this before running us
    sys.stderr.write(
        f"cannot import grpc/protobuf ({exc}) in {sys.executable}: "
        "install Debian's package with `apt-get install -y python3-grpcio` "
        "and run this script with /usr/bin/python3\n"
    )
    sys.exit(3)

HEALTH_SERVICES = ["", "wxtoken.v1.TokenService", "wxtoken.v1.LoginService"]
SERVING_STATUS = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
TIMEOUT_S = 10


# --- protobuf wire format, the little that is needed ------------------------------------------


def encode_varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def decode_varint(buf, pos):
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def encode_string(field, value):
    """A length-delimited field: tag (field << 3 | 2), varint length, bytes."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    return encode_varint(field << 3 | 2) + encode_varint(len(data)) + data


def decode_fields(buf):
    """{field number: [values]}; varints as int, length-delimited as bytes."""
    fields = {}
    pos = 0
    while pos < len(buf):
        key, pos = decode_varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = decode_varint(buf, pos)
        elif wire == 2:
            length, pos = decode_varint(buf, pos)
            value, pos = bytes(buf[pos : pos + length]), pos + length
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos : pos + 8], "little"), pos + 8
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos : pos + 4], "little"), pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire} for field {field}")
        fields.setdefault(field, []).append(value)
    return fields


def first(fields, number, default=None):
    values = fields.get(number)
    return values[0] if values else default


def raw_unary(channel, method):
    # No serializers: requests and replies are bytes on the wire.
    return channel.unary_unary(method)


# --- 1. health ---------------------------------------------------------------------------------


def health_check(channel):
    check = raw_unary(channel, "/grpc.health.v1.Health/Check")
    statuses = {}
    for service in HEALTH_SERVICES:
        # HealthCheckRequest { string service = 1; } — proto3 omits the empty string.
        reply = check(encode_string(1, service) if service else b"", timeout=TIMEOUT_S)
        # HealthCheckResponse { ServingStatus status = 1; } — absent means 0 (UNKNOWN).
        statuses[service] = SERVING_STATUS.get(first(decode_fields(reply), 1, 0), "?")
    return statuses


# --- 2. reflection -----------------------------------------------------------------------------


def reflection_exchange(channel, requests):
    """Sends ServerReflectionRequests on one stream; returns (api version, decoded replies)."""
    last_error = None
    for api in ("v1", "v1alpha"):
        stream = channel.stream_stream(f"/grpc.reflection.{api}.ServerReflection/ServerReflectionInfo")
        try:
            return api, [decode_fields(r) for r in stream(iter(requests), timeout=TIMEOUT_S)]
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
            last_error = err
    raise last_error


def reflection_error(reply):
    # ServerReflectionResponse.error_response = 7 { int32 error_code = 1; string error_message = 2; }
    err = first(reply, 7)
    if err is None:
        return None
    e = decode_fields(err)
    return f"reflection error {first(e, 1, 0)}: {first(e, 2, b'').decode()}"


def list_services(channel):
    # ServerReflectionRequest { string host = 1; ... string list_services = 7; }
    api, replies = reflection_exchange(channel, [encode_string(7, "*")])
    reply = replies[0]
    if reflection_error(reply):
        raise RuntimeError(reflection_error(reply))
    # list_services_response = 6 { repeated ServiceResponse service = 1 { string name = 1; } }
    listing = decode_fields(first(reply, 6, b""))
    names = [first(decode_fields(s), 1, b"").decode() for s in listing.get(1, [])]
    return api, sorted(names)


def file_descriptors(channel, requests):
    """FileDescriptorProtos (serialized) from file_descriptor_response = 4 { repeated bytes = 1 }."""
    _, replies = reflection_exchange(channel, requests)
    files = []
    for reply in replies:
        if reflection_error(reply):
            raise RuntimeError(reflection_error(reply))
        files.extend(decode_fields(first(reply, 4, b"")).get(1, []))
    return files


def pool_for_symbol(channel, symbol):
    """A DescriptorPool holding the file that defines `symbol` and everything it imports.

    Strict, as grpcurl is: imports are followed through `dependency` (asking for files the
    server did not send by name), and a file whose types reference a file it does not import
    does not load. Returns (pool, file names).
    """
    by_name = {}
    for raw in file_descriptors(channel, [encode_string(4, symbol)]):  # file_containing_symbol
        fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
        by_name[fd.name] = fd
    for _ in range(16):
        missing = {d for fd in by_name.values() for d in fd.dependency} - set(by_name)
        if not missing:
            break
        for raw in file_descriptors(channel, [encode_string(3, name) for name in sorted(missing)]):
            fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
            by_name.setdefault(fd.name, fd)
    pool = descriptor_pool.DescriptorPool()
    added = set()
    while len(added) < len(by_name):  # dependencies first
        ready = [n for n, fd in by_name.items() if n not in added and set(fd.dependency) <= added]
        if not ready:
            raise RuntimeError(f"unresolvable imports among {sorted(by_name)}")
        for name in sorted(ready):
            pool.Add(by_name[name])
            added.add(name)
    # Adding is lazy: resolving the service links every type it uses, or raises.
    pool.FindServiceByName(symbol)
    return pool, sorted(by_name)


def message_class(pool, full_name):
    desc = pool.FindMessageTypeByName(full_name)
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.22
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)  # Debian bookworm: 4.21


# --- 3. GetToken -------------------------------------------------------------------------------


def get_token_via_reflection(pool, app_id, channel):
    method = pool.FindServiceByName("wxtoken.v1.TokenService").FindMethodByName("GetToken")
    request_cls = message_class(pool, method.input_type.full_name)
    reply_cls = message_class(pool, method.output_type.full_name)
    call = channel.unary_unary(
        "/wxtoken.v1.TokenService/GetToken",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=reply_cls.FromString,
    )
    token = call(request_cls(app_id=app_id), timeout=TIMEOUT_S)
    return {
        "app_id": token.app_id,
        "access_token": token.access_token,
        "access_token_length": len(token.access_token),
        "expires_at": token.expires_at.seconds + token.expires_at.nanos / 1e9,
        "generation": token.generation,
    }


def get_token_by_hand(channel, app_id):
    # GetTokenRequest { string app_id = 1; } → 0x0a, varint length, bytes.
    request = encode_string(1, app_id)
    reply = decode_fields(raw_unary(channel, "/wxtoken.v1.TokenService/GetToken")(request, timeout=TIMEOUT_S))
    # Token { app_id = 1; access_token = 2; Timestamp expires_at = 3 { seconds = 1; nanos = 2 }; ...;
    #         int64 generation = 5; }
    expires = decode_fields(first(reply, 3, b""))
    return {
        "request_hex": request.hex(),
        "app_id": first(reply, 1, b"").decode(),
        "access_token": first(reply, 2, b"").decode(),
        "expires_at": first(expires, 1, 0) + first(expires, 2, 0) / 1e9,
        "generation": first(reply, 5, 0),
    }


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: health_and_token.py HOST:PORT APP_ID\n")
        return 2
    addr, app_id = argv[1], argv[2]
    out = {"python": sys.executable, "grpcio": grpc.__version__}
    try:
        with grpc.insecure_channel(addr) as channel:
            grpc.channel_ready_future(channel).result(timeout=TIMEOUT_S)
            out["health"] = health_check(channel)
            api, services = list_services(channel)
            out["reflection"] = {"api": api, "services": services}
            token = get_token_by_hand(channel, app_id)
            token["access_token_length"] = len(token["access_token"])
            token["expires_in_s"] = round(token["expires_at"] - time.time(), 3)
            out["token"] = token
            # What grpcurl does before it can call a method: load the reflected descriptors.
            try:
                pool, files = pool_for_symbol(channel, "wxtoken.v1.TokenService")
                out["descriptors"] = {"ok": True, "files": files}
                out["token_via_descriptors"] = get_token_via_reflection(pool, app_id, channel)
            except (TypeError, KeyError, RuntimeError) as err:
                out["descriptors"] = {"ok": False, "error": f"{type(err).__name__}: {err}"}
    except grpc.RpcError as err:
        out["error"] = f"{err.code().name}: {err.details()}"
    except Exception as err:  # noqa: BLE001 - reported in the JSON for the test to show
        out["error"] = f"{type(err).__name__}: {err}"
    print(json.dumps(out))
    return 1 if "error" in out else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
