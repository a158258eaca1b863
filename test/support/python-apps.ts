import { strToU8, zipSync } from 'fflate';

/**
 * Python apps for the local builder's tests, written with no network (PyPI is out of reach here):
 * one on the standard library alone (http.server, an empty requirements.txt), and a Flask-shaped
 * one whose `flask` and `gunicorn` are small stand-ins the test packs as real wheels (zip files
 * with .dist-info, RECORD and a console_scripts entry point) into the app's wheels/ folder,
 * installed by pip from requirements.txt with `--no-index --find-links wheels`. So pip, the
 * virtualenv, console scripts and the start command Baton derives (gunicorn bound through its own
 * flag) are the real ones. What this does not prove: real Flask, real gunicorn (its workers, its
 * PORT handling), resolving from PyPI, FastAPI with uvicorn, uv/poetry/pipenv installs (none of
 * the three is installed here), C extensions.
 */

type Files = Record<string, string>;

/** A pure-Python wheel as pip builds one: the files, METADATA, WHEEL, entry points, RECORD. */
export function wheel(
  name: string,
  version: string,
  files: Files,
  consoleScripts: Record<string, string> = {},
): { file: string; data: Uint8Array } {
  const info = `${name}-${version}.dist-info`;
  const all: Files = {
    ...files,
    [`${info}/METADATA`]: `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\nSummary: stand-in for ${name} (Baton's tests)\n`,
    [`${info}/WHEEL`]: 'Wheel-Version: 1.0\nGenerator: baton-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
    ...(Object.keys(consoleScripts).length > 0
      ? {
          [`${info}/entry_points.txt`]: `[console_scripts]\n${Object.entries(consoleScripts)
            .map(([k, v]) => `${k} = ${v}`)
            .join('\n')}\n`,
        }
      : {}),
  };
  // Hashes left empty: pip installs without checking them (it checks only what a requirement pins with --hash).
  all[`${info}/RECORD`] = `${[...Object.keys(all), `${info}/RECORD`].map((f) => `${f},,`).join('\n')}\n`;
  const zip = zipSync(Object.fromEntries(Object.entries(all).map(([k, v]) => [k, strToU8(v)])));
  return { file: `${name}-${version}-py3-none-any.whl`, data: zip };
}

/** Flask's shape: Flask(__name__), @app.route, a WSGI callable. */
const FLASK = wheel('flask', '3.0.0', {
  'flask/__init__.py': `class Flask:
    def __init__(self, name):
        self.name = name
        self.routes = {}

    def route(self, path):
        def register(view):
            self.routes[path] = view
            return view
        return register

    def __call__(self, environ, start_response):
        view = self.routes.get(environ.get("PATH_INFO", "/"))
        if view is None:
            start_response("404 NOT FOUND", [("Content-Type", "text/html")])
            return [b"<h1>Not Found</h1>"]
        body = view()
        if isinstance(body, dict):
            import json
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(body).encode()]
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [str(body).encode()]
`,
});

/** gunicorn's shape: `gunicorn [-b HOST:PORT | --bind HOST:PORT] module:app`; with no bind, 0.0.0.0:$PORT when PORT is set, else 127.0.0.1:8000. */
const GUNICORN = wheel(
  'gunicorn',
  '23.0.0',
  {
    'gunicorn/__init__.py': '',
    'gunicorn/app.py': `import importlib, os, sys
from wsgiref.simple_server import make_server, WSGIRequestHandler


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def run():
    args = sys.argv[1:]
    bind = None
    spec = None
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-b", "--bind"):
            bind = args[i + 1]
            i += 2
            continue
        if a.startswith("--bind="):
            bind = a.split("=", 1)[1]
        elif not a.startswith("-"):
            spec = a
        i += 1
    if bind is None:
        bind = "0.0.0.0:" + os.environ["PORT"] if os.environ.get("PORT") else "127.0.0.1:8000"
    host, port = bind.rsplit(":", 1)
    module, attr = spec.split(":")
    sys.path.insert(0, os.getcwd())
    app = getattr(importlib.import_module(module), attr)
    print("[INFO] Listening at: http://%s:%s" % (host, port), flush=True)
    make_server(host, int(port), app, handler_class=Quiet).serve_forever()
`,
  },
  { gunicorn: 'gunicorn.app:run' },
);

export interface PythonApp {
  files: Files;
  binary: Record<string, Uint8Array>;
}

/** The standard library only: an empty requirements.txt, http.server on $PORT (all interfaces, as most apps are written). */
export function plainPythonApp(): PythonApp {
  return {
    files: {
      'requirements.txt': '',
      'main.py': `import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"hello": "python", "venv": sys.prefix != sys.base_prefix}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


port = int(os.environ.get("PORT", "8080"))
print("python: listening on port %d" % port, flush=True)
HTTPServer(("", port), Handler).serve_forever()
`,
    },
    binary: {},
  };
}

/** Flask's quickstart served by gunicorn, both from wheels/ (pip --no-index --find-links). */
export function flaskApp(): PythonApp {
  return {
    files: {
      'requirements.txt': '--no-index\n--find-links wheels\nflask==3.0.0\ngunicorn==23.0.0\n',
      'app.py': `from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "<p>Hello, World!</p>"
`,
    },
    binary: { [`wheels/${FLASK.file}`]: FLASK.data, [`wheels/${GUNICORN.file}`]: GUNICORN.data },
  };
}
