#!/usr/bin/env python3
"""A Keystone v2.0 stand-in for swiftgit's tests (Python stdlib only).

Keystone dropped the v2.0 API in 2018, yet the seed's config speaks it (auth_ver = 2). This
stub answers `POST .../v2.0/tokens` the way Keystone v2.0 did, but the token inside is a real
tempauth token from the Swift proxy, so Swift itself accepts or refuses it.

    /v2.0/tokens           tempauth at {proxy}/auth/v1.0; endpoint in RegionOne
    /short/v2.0/tokens     tempauth at {proxy}/auth-short/v1.0, whose tokens Swift refuses
                           a few seconds after they are issued (token expiry tests)
    /noregion/v2.0/tokens  like /v2.0, but the object-store endpoint is in OtherRegion only

Request:  {"auth": {"passwordCredentials": {"username": U, "password": P}, "tenantName": T}}
tempauth is asked for user "T:U" with key P; its 401 becomes a v2-style 401 here.

Usage: keystone-v2-stub.py --port 15002 --proxy http://127.0.0.1:18080
"""
import argparse
import datetime
import http.client
import json
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# path prefix -> (tempauth path on the proxy, region of the object-store endpoint)
VARIANTS = {
    '': ('/auth/v1.0', 'RegionOne'),
    '/short': ('/auth-short/v1.0', 'RegionOne'),
    '/noregion': ('/auth/v1.0', 'OtherRegion'),
}


class StubError(Exception):
    def __init__(self, code, title, message):
        super().__init__(message)
        self.code, self.title, self.message = code, title, message


def parse_credentials(body):
    try:
        auth = json.loads(body)['auth']
        creds = auth['passwordCredentials']
        user, password, tenant = creds['username'], creds['password'], auth['tenantName']
    except (ValueError, KeyError, TypeError):
        raise StubError(400, 'Bad Request', 'Expected {"auth": {"passwordCredentials": '
                        '{"username": ..., "password": ...}, "tenantName": ...}}')
    if not all(isinstance(v, str) and v for v in (user, password, tenant)):
        raise StubError(400, 'Bad Request', 'username, password and tenantName must be '
                        'non-empty strings')
    return tenant, user, password


def tempauth_token(proxy, auth_path, tenant, user, password):
    """Returns (token, storage_url, seconds_left) from tempauth."""
    req = urllib.request.Request(proxy + auth_path, headers={
        'X-Auth-User': '%s:%s' % (tenant, user), 'X-Auth-Key': password})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            h = resp.headers
            return h['X-Auth-Token'], h['X-Storage-Url'], int(h.get('X-Auth-Token-Expires', 0))
    except urllib.error.HTTPError as e:
        if e.code == 401:
            raise StubError(401, 'Unauthorized',
                            'The request you have made requires authentication.')
        raise StubError(503, 'Service Unavailable', 'tempauth answered %d' % e.code)
    except (OSError, http.client.HTTPException) as e:
        raise StubError(503, 'Service Unavailable', 'Swift proxy unreachable: %s' % e)


def access_document(tenant, user, token, storage_url, seconds_left, region, stub_url):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    expires = now + datetime.timedelta(seconds=seconds_left)
    iso = lambda t: t.strftime('%Y-%m-%dT%H:%M:%SZ')  # noqa: E731
    # An identity entry comes first, as in a real catalog: clients must pick by type.
    return {'access': {
        'token': {'id': token, 'issued_at': iso(now), 'expires': iso(expires),
                  'tenant': {'id': tenant, 'name': tenant, 'enabled': True,
                             'description': None}},
        'user': {'id': user, 'name': user, 'username': user,
                 'roles': [{'name': 'admin'}], 'roles_links': []},
        'serviceCatalog': [
            {'type': 'identity', 'name': 'keystone', 'endpoints_links': [],
             'endpoints': [{'region': 'RegionOne', 'publicURL': stub_url,
                            'internalURL': stub_url, 'adminURL': stub_url}]},
            {'type': 'object-store', 'name': 'swift', 'endpoints_links': [],
             'endpoints': [{'region': region, 'publicURL': storage_url,
                            'internalURL': storage_url, 'adminURL': storage_url}]},
        ],
        'metadata': {'is_admin': 0, 'roles': []},
    }}


class Handler(BaseHTTPRequestHandler):
    server_version = 'keystone-v2-stub'
    protocol_version = 'HTTP/1.1'

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
        prefix = self.path.split('?')[0].rstrip('/')
        if not prefix.endswith('/v2.0/tokens') or prefix[:-len('/v2.0/tokens')] not in VARIANTS:
            return self.reply(404, error_body(404, 'Not Found', 'No such path: ' + self.path))
        auth_path, region = VARIANTS[prefix[:-len('/v2.0/tokens')]]
        try:
            tenant, user, password = parse_credentials(body)
            token, url, left = tempauth_token(self.server.proxy, auth_path, tenant, user,
                                              password)
        except StubError as e:
            return self.reply(e.code, error_body(e.code, e.title, e.message))
        stub_url = 'http://%s:%d%s/v2.0' % (*self.server.server_address[:2],
                                             prefix[:-len('/v2.0/tokens')])
        self.reply(200, access_document(tenant, user, token, url, left, region, stub_url))

    def do_GET(self):
        self.reply(404, error_body(404, 'Not Found', 'Only POST .../v2.0/tokens is served'))

    def reply(self, code, doc):
        data = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        if code == 401:
            self.send_header('WWW-Authenticate', 'Keystone uri="http://%s:%d"'
                             % self.server.server_address[:2])
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write('%s %s\n' % (self.log_date_time_string(), fmt % args))
        sys.stderr.flush()


def error_body(code, title, message):
    return {'error': {'code': code, 'title': title, 'message': message}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--proxy', required=True, help='Swift proxy base URL')
    args = ap.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.proxy = args.proxy.rstrip('/')
    server.daemon_threads = True
    sys.stderr.write('keystone-v2-stub on http://%s:%d, proxy %s\n'
                     % (args.host, args.port, server.proxy))
    sys.stderr.flush()
    server.serve_forever()


if __name__ == '__main__':
    main()
