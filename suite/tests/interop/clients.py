#!/usr/bin/env python3
"""Python HTTP clients driven by suite/tests/interop.rs against the example server.

Each scenario makes real requests with a real client library (requests, httpx, aiohttp, and the
standard library's urllib.request with HTTPDigestAuthHandler; requests-basic is requests with
HTTPBasicAuth) and
prints one report per final response as `name<TAB>value` lines, starting with `response<TAB>N`.
For every 200 the report says whether the server's Authentication-Info rspauth is correct,
recomputed here with hashlib from the Authorization header the client sent: a check that
shares no code with the Rust library or the Rust side of the suite.

A missing library is an error (non-zero exit status), never a skip.
"""

import argparse
import asyncio
import hashlib
import sys
import time

HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
TIMEOUT = 10


def parse_params(header):
    """Splits `Digest a=b, c="d"` (or a bare list) into a dict with lower-case names."""
    text = header.strip()
    if text[:7].lower() == "digest ":
        text = text[7:]
    params, i, n = {}, 0, len(text)
    while i < n:
        while i < n and text[i] in ", \t":
            i += 1
        if i >= n:
            break
        start = i
        while i < n and text[i] not in "= ":
            i += 1
        name = text[start:i].lower()
        while i < n and text[i] == " ":
            i += 1
        if i >= n or text[i] != "=":
            raise ValueError(f"parameter {name!r} without a value in {header!r}")
        i += 1
        while i < n and text[i] == " ":
            i += 1
        if i < n and text[i] == '"':
            i += 1
            value = []
            while True:
                if i >= n:
                    raise ValueError(f"unterminated quoted string in {header!r}")
                if text[i] == '"':
                    i += 1
                    break
                if text[i] == "\\":
                    i += 1
                value.append(text[i])
                i += 1
            value = "".join(value)
        else:
            start = i
            while i < n and text[i] not in ", ":
                i += 1
            value = text[start:i]
        params[name] = value
    return params


def check_rspauth(authorization, authentication_info, password):
    """'ok', or what is wrong with the server's rspauth for this Authorization."""
    if not authorization:
        return "no Authorization was sent"
    if not authentication_info:
        return "no Authentication-Info received"
    sent = parse_params(authorization)
    info = parse_params(authentication_info)
    algorithm = sent.get("algorithm", "MD5").upper()
    session = algorithm.endswith("-SESS")
    base = algorithm[: -len("-SESS")] if session else algorithm
    if base not in HASHES:
        return f"unknown algorithm {algorithm}"

    def h(text):
        return HASHES[base](text.encode("utf-8")).hexdigest()

    ha1 = h(f"{sent['username']}:{sent['realm']}:{password}")
    if session:
        ha1 = h(f"{ha1}:{sent['nonce']}:{sent['cnonce']}")
    ha2 = h(":" + sent["uri"])
    expected = h(f"{ha1}:{sent['nonce']}:{sent['nc']}:{sent['cnonce']}:{sent['qop']}:{ha2}")
    if info.get("rspauth") != expected:
        return f"rspauth {info.get('rspauth')} != {expected}"
    if info.get("cnonce") != sent["cnonce"] or info.get("nc") != sent["nc"]:
        return f"cnonce/nc not echoed: {authentication_info}"
    return "ok"


def escape(value):
    return (
        str(value)
        .replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def report(index, status, authorization, authentication_info, body, password, history=()):
    """Prints one response; `history` lists the statuses of the 401s the client retried past.

    `password` None: Basic, whose successes carry no rspauth to check.
    """
    lines = [("response", index), ("status", status)]
    if authorization and authorization[:6].lower() == "basic ":
        lines.append(("authorization", authorization))
    elif authorization:
        sent = parse_params(authorization)
        lines += [
            ("authorization", authorization),
            ("algorithm", sent.get("algorithm", "MD5")),
            ("nonce", sent.get("nonce", "")),
            ("nc", sent.get("nc", "")),
        ]
    if authentication_info:
        lines.append(("authentication_info", authentication_info))
    if status == 200 and password is not None:
        lines.append(("rspauth", check_rspauth(authorization, authentication_info, password)))
    lines.append(("history", ",".join(str(s) for s in history)))
    lines.append(("body", body))
    for name, value in lines:
        print(f"{name}\t{escape(value)}")
    sys.stdout.flush()


def requests_module():
    try:
        import requests  # noqa: PLC0415
        from requests.auth import HTTPDigestAuth  # noqa: PLC0415
    except ImportError as error:
        sys.exit(f"python requests is not installed ({error}); run tests/interop-setup.sh")
    return requests, HTTPDigestAuth


def report_response(index, response, password):
    """Reports a requests or httpx response: both name these attributes alike (password
    None for Basic)."""
    report(
        index,
        response.status_code,
        response.request.headers.get("Authorization"),
        response.headers.get("Authentication-Info"),
        response.text,
        password,
        [r.status_code for r in response.history],
    )


def run_requests(args):
    requests, HTTPDigestAuth = requests_module()
    session = requests.Session()
    session.trust_env = False
    # One auth object for the whole session: it is asked for the password once, here.
    session.auth = HTTPDigestAuth(args.user, args.password)
    for index in range(1, args.count + 1):
        if args.body is not None:
            response = session.post(args.url, data=args.body.encode(), timeout=TIMEOUT)
        else:
            response = session.get(args.url, timeout=TIMEOUT)
        report_response(index, response, args.password)
        if index < args.count and args.pause:
            time.sleep(args.pause)
    # Then, on the same session (the same auth object and its nonce), each --also URL.
    for index, url in enumerate(args.also, start=args.count + 1):
        report_response(index, session.get(url, timeout=TIMEOUT), args.password)


def run_requests_basic(args):
    """requests with HTTPBasicAuth: the credentials go with every request, unasked."""
    requests, _ = requests_module()
    from requests.auth import HTTPBasicAuth  # noqa: PLC0415

    session = requests.Session()
    session.trust_env = False
    session.auth = HTTPBasicAuth(args.user, args.password)
    # A file: trust only this certificate (the TLS example's); otherwise the defaults.
    session.verify = args.verify if args.verify else True
    for index, url in enumerate([args.url] * args.count + args.also, start=1):
        report_response(index, session.get(url, timeout=TIMEOUT), None)


def run_httpx(args):
    try:
        import httpx  # noqa: PLC0415
    except ImportError as error:
        sys.exit(f"python httpx is not installed ({error}); run tests/interop-setup.sh")
    auth = httpx.DigestAuth(args.user, args.password)
    with httpx.Client(auth=auth, timeout=TIMEOUT, trust_env=False) as client:
        for index in range(1, args.count + 1):
            response = client.get(args.url)
            report_response(index, response, args.password)


def run_urllib(args):
    """The standard library alone: urllib.request with HTTPDigestAuthHandler, one opener.

    Before Python 3.14 it answers only the first WWW-Authenticate line and raises
    ValueError when that line is SHA-256: that exception is a failure of the run.
    """
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    passwords.add_password(None, args.url, args.user, args.password)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPDigestAuthHandler(passwords)
    )
    for index in range(1, args.count + 1):
        request = urllib.request.Request(args.url)
        try:
            with opener.open(request, timeout=TIMEOUT) as response:
                status, headers, body = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, body = error.code, error.headers, error.read()
        # The handler adds its answer to the same Request object it retries.
        authorization = request.unredirected_hdrs.get("Authorization")
        report(
            index,
            status,
            authorization,
            headers.get("Authentication-Info"),
            body.decode("utf-8", "replace"),
            args.password,
        )


async def aiohttp_session(args):
    try:
        import aiohttp  # noqa: PLC0415
        from aiohttp import DigestAuthMiddleware  # noqa: PLC0415
    except ImportError as error:
        sys.exit(
            f"python aiohttp >= 3.12 (DigestAuthMiddleware) is not installed ({error}); "
            "run tests/interop-setup.sh"
        )
    middleware = DigestAuthMiddleware(login=args.user, password=args.password)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    async with aiohttp.ClientSession(
        middlewares=(middleware,), timeout=timeout, trust_env=False
    ) as session:
        for index in range(1, args.count + 1):
            async with session.get(args.url) as response:
                body = await response.text()
                report(
                    index,
                    response.status,
                    response.request_info.headers.get("Authorization"),
                    response.headers.get("Authentication-Info"),
                    body,
                    args.password,
                )


def run_aiohttp(args):
    asyncio.run(aiohttp_session(args))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "client", choices=["requests", "requests-basic", "httpx", "aiohttp", "urllib"]
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--count", type=int, default=1, help="requests to make, one session")
    parser.add_argument("--body", help="POST this body instead of GET (requests only)")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds between requests")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        help="after the --count requests, GET this URL on the same session (requests only)",
    )
    parser.add_argument("--verify", help="CA file to trust for https (requests-basic only)")
    args = parser.parse_args()
    runners = {
        "requests": run_requests,
        "requests-basic": run_requests_basic,
        "httpx": run_httpx,
        "aiohttp": run_aiohttp,
        "urllib": run_urllib,
    }
    runners[args.client](args)


if __name__ == "__main__":
    main()
