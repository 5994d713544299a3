"""Test only: an HTTPS stand-in for the few Azure ML and Blob Storage REST
calls that ``MLClient.jobs.create_or_update``, ``jobs.stream``,
``jobs.download``, ``compute.get`` and datastore downloads make.

It is not an emulator: it answers just enough for the SDK to submit a command
job, and it runs the submitted command on this machine (see :mod:`.jobs`).
Everything lives in memory; blob URLs point here through a patched
``azure.ai.ml.constants._common.STORAGE_ACCOUNT_URLS``.
"""
from __future__ import annotations

import base64
import email.utils
import hashlib
import http.server
import json
import ssl
import threading
import urllib.parse
from pathlib import Path
from xml.sax.saxutils import escape

ACCOUNT = "standinstore"
CONTAINER = "azureml-blobstore"


class Blobs:
    """An in-memory blob store: ``{(container, name): (bytes, metadata)}``."""

    def __init__(self):
        self.items: dict[tuple[str, str], tuple[bytes, dict]] = {}
        self.lock = threading.Lock()

    def put(self, container: str, name: str, data: bytes, metadata: dict | None = None) -> None:
        with self.lock:
            self.items[(container, name)] = (data, dict(metadata or {}))

    def put_tree(self, container: str, prefix: str, folder: Path) -> None:
        for path in sorted(Path(folder).rglob("*")):
            if path.is_file():
                self.put(container, f"{prefix}/{path.relative_to(folder).as_posix()}", path.read_bytes())

    def get_tree(self, container: str, prefix: str, folder: Path) -> Path:
        """Write the blobs under ``prefix`` into ``folder`` (a single blob: a file in it)."""
        folder.mkdir(parents=True, exist_ok=True)
        for (c, name), (data, _) in list(self.items.items()):
            if c != container:
                continue
            if name == prefix:
                target = folder / Path(name).name
                target.write_bytes(data)
                return target
            if name.startswith(prefix.rstrip("/") + "/"):
                target = folder / name[len(prefix.rstrip("/")) + 1:]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        return folder

    def list(self, container: str, prefix: str) -> list[tuple[str, bytes, dict]]:
        with self.lock:
            return sorted((n, d, m) for (c, n), (d, m) in self.items.items() if c == container and n.startswith(prefix))


class Handler(http.server.BaseHTTPRequestHandler):
    """Routes a request to the stand-in's ARM, run-history or blob answers."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args):  # quiet: requests are recorded in StandIn.requests
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        standin = self.server.standin
        standin.requests.append((self.command, url.path))
        try:
            status, headers, payload = standin.route(self.command, urllib.parse.unquote(url.path), query,
                                                     body, dict(self.headers))
        except Exception as exc:  # a bug in the stand-in: answer 500 and keep it for the test
            standin.errors.append(f"{self.command} {self.path}: {exc!r}")
            status, headers, payload = 500, {}, json.dumps({"error": {"code": "StandInBug", "message": repr(exc)}})
        data = payload.encode() if isinstance(payload, str) else payload
        self.send_response(status)
        if isinstance(payload, str) and "Content-Type" not in headers:
            headers["Content-Type"] = "application/json"
        headers.setdefault("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has the length of the body it does not send
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    standin: StandInServer


def http_date() -> str:
    return email.utils.formatdate(usegmt=True)


class StandInServer:
    """HTTPS on 127.0.0.1 with blob storage; ``route`` is extended by :class:`.service.StandIn`."""

    def __init__(self, cert: Path, key: Path):
        self.blobs = Blobs()
        self.requests: list[tuple[str, str]] = []
        self.errors: list[str] = []
        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.standin = self
        self.cert = Path(cert)  # clients trust this file
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> StandInServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def route(self, method, path, query, body, headers):
        if path.startswith(f"/{ACCOUNT}"):
            return self.blob(method, path[len(ACCOUNT) + 2:], query, body, headers)
        self.errors.append(f"unhandled {method} {path}")
        return 404, {}, json.dumps({"error": {"code": "NotFound", "message": f"stand-in: no route {path}"}})

    # -- blob storage (the calls azure-storage-blob makes for upload, list, download)

    def blob(self, method, path, query, body, headers):
        container, _, name = path.partition("/")
        base = {"x-ms-version": headers.get("x-ms-version", "2021-08-06"), "Date": http_date()}
        if query.get("comp") == "list":
            return 200, {**base, "Content-Type": "application/xml"}, self._list_xml(container, query)
        if method == "PUT" and query.get("comp") == "metadata":
            data, _ = self.blobs.items.get((container, name), (b"", {}))
            meta = {k[len("x-ms-meta-"):]: v for k, v in headers.items() if k.lower().startswith("x-ms-meta-")}
            self.blobs.put(container, name, data, meta)
            return 200, {**base, "ETag": '"1"', "Last-Modified": http_date()}, b""
        if method == "PUT":
            meta = {k[len("x-ms-meta-"):].lower(): v for k, v in headers.items() if k.lower().startswith("x-ms-meta-")}
            self.blobs.put(container, name, body, meta)
            return 201, {**base, "ETag": '"1"', "Last-Modified": http_date(),
                         "Content-MD5": "", "x-ms-request-server-encrypted": "true"}, b""
        if method in ("GET", "HEAD"):
            item = self.blobs.items.get((container, name))
            if item is None:
                return 404, {**base, "x-ms-error-code": "BlobNotFound", "Content-Type": "application/xml"}, \
                    "<?xml version=\"1.0\"?><Error><Code>BlobNotFound</Code></Error>"
            data, meta = item
            props = {**base, "ETag": '"1"', "Last-Modified": http_date(), "x-ms-blob-type": "BlockBlob",
                     "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes",
                     **{f"x-ms-meta-{k}": v for k, v in meta.items()}}
            rng = headers.get("x-ms-range") or headers.get("Range")
            if method == "GET" and rng:
                start, _, end = rng.split("=", 1)[1].partition("-")
                start, end = int(start), min(int(end or len(data) - 1), len(data) - 1)
                chunk = data[start:end + 1]
                return 206, {**props, "Content-Range": f"bytes {start}-{end}/{len(data)}"}, chunk
            return 200, {**props, "Content-Length": str(len(data))}, data
        if method == "DELETE":
            self.blobs.items.pop((container, name), None)
            return 202, base, b""
        return 400, base, b""

    def _list_xml(self, container, query) -> str:
        prefix = query.get("prefix", "")
        items = []
        for name, data, meta in self.blobs.list(container, prefix):
            md = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in meta.items())
            items.append(f"<Blob><Name>{escape(name)}</Name><Properties><Last-Modified>{http_date()}</Last-Modified>"
                         f"<Etag>\"1\"</Etag><Content-Length>{len(data)}</Content-Length>"
                         f"<Content-Type>application/octet-stream</Content-Type><BlobType>BlockBlob</BlobType>"
                         f"<Content-MD5>{base64.b64encode(hashlib.md5(data).digest()).decode()}</Content-MD5></Properties>"
                         f"<Metadata>{md}</Metadata></Blob>")
        return ('<?xml version="1.0" encoding="utf-8"?>'
                f'<EnumerationResults ServiceEndpoint="{self.url}/{ACCOUNT}/" ContainerName="{container}">'
                f"<Prefix>{escape(prefix)}</Prefix><Blobs>{''.join(items)}</Blobs><NextMarker/></EnumerationResults>")
