/**
 * Small real-world-shaped repositories, as files, one per stack and framework Baton analyses, a
 * monorepo subfolder, and one per seed 001 failure mode (with the Dockerfile that makes it). The
 * tests analyse each, generate or lint its Dockerfile, and the e2e ones deploy the Node ones.
 */
const pkg = (o: Record<string, unknown>) => JSON.stringify({ name: 'app', version: '1.0.0', private: true, ...o }, null, 2);
const NODE_SERVER = "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT) || 8080, '0.0.0.0');\n";

export const STACKS: Record<string, Record<string, string>> = {
  'node-plain': {
    'package.json': pkg({ scripts: { start: 'node server.js' } }),
    'package-lock.json': '{"lockfileVersion":3,"packages":{}}',
    'server.js': NODE_SERVER,
  },
  'node-express': {
    'package.json': pkg({ dependencies: { express: '^4.21.0' }, scripts: { start: 'node app.js' } }),
    'package-lock.json': '{}',
    'app.js': "const app = require('express')();\napp.get('/', (q, s) => s.send('ok'));\napp.listen(process.env.PORT || 8080);\n",
  },
  'node-fastify-pnpm': {
    'package.json': pkg({ dependencies: { fastify: '^5.0.0' }, scripts: { start: 'node index.js' } }),
    'pnpm-lock.yaml': "lockfileVersion: '9.0'\n",
    'index.js': "const f = require('fastify')();\nf.listen({ port: Number(process.env.PORT), host: '0.0.0.0' });\n",
  },
  'node-koa-yarn': {
    'package.json': pkg({ dependencies: { koa: '^2.15.0' }, scripts: { start: 'node server.js' }, engines: { node: '>=20 <21' } }),
    'yarn.lock': '# yarn lockfile v1\n',
    'server.js': "new (require('koa'))().listen(process.env.PORT);\n",
  },
  'node-nest': {
    'package.json': pkg({
      dependencies: { '@nestjs/core': '^10.0.0' },
      devDependencies: { '@nestjs/cli': '^10.0.0' },
      scripts: { build: 'nest build', start: 'nest start', 'start:prod': 'node dist/main' },
    }),
    'package-lock.json': '{}',
    'src/main.ts': 'await app.listen(process.env.PORT ?? 3000);\n',
  },
  'node-next': {
    'package.json': pkg({ dependencies: { next: '^15.0.0', react: '^19.0.0' }, scripts: { build: 'next build', start: 'next start' } }),
    'package-lock.json': '{}',
    'next.config.mjs': "export default { output: 'standalone' };\n",
    'app/page.js': 'export default function Page() { return "ok"; }\n',
  },
  'node-nuxt-bun': {
    'package.json': pkg({ devDependencies: { nuxt: '^3.13.0' }, scripts: { build: 'nuxt build' } }),
    'bun.lock': '{}',
    'nuxt.config.ts': 'export default defineNuxtConfig({});\n',
  },
  'python-fastapi': {
    'requirements.txt': 'fastapi==0.115.0\nuvicorn==0.30.6\n',
    'app/__init__.py': '',
    'app/main.py': 'from fastapi import FastAPI\n\napp = FastAPI()\n\n@app.get("/")\ndef root():\n    return {"ok": True}\n',
    '.python-version': '3.12\n',
  },
  'python-flask-uv': {
    'pyproject.toml':
      '[project]\nname = "web"\nversion = "0.1.0"\nrequires-python = ">=3.11"\ndependencies = ["flask>=3", "gunicorn>=22"]\n',
    'uv.lock': 'version = 1\n',
    'web.py': 'from flask import Flask\n\napp = Flask(__name__)\n',
  },
  'python-django-poetry': {
    'pyproject.toml':
      '[tool.poetry]\nname = "site"\nversion = "0.1.0"\n\n[tool.poetry.dependencies]\npython = "^3.11"\ndjango = "^5.1"\ngunicorn = "^23"\n',
    'poetry.lock': '',
    'manage.py': 'import django\n',
    'mysite/__init__.py': '',
    'mysite/wsgi.py': 'from django.core.wsgi import get_wsgi_application\napplication = get_wsgi_application()\n',
  },
  'python-pipenv-plain': {
    Pipfile: '[packages]\nrequests = "*"\n\n[requires]\npython_version = "3.11"\n',
    'Pipfile.lock': '{}',
    'main.py': 'import os\nport = int(os.environ["PORT"])\n',
  },
  'go-root': {
    'go.mod': 'module example.com/hello\n\ngo 1.22\n',
    'main.go': 'package main\n\nimport ("net/http"; "os")\n\nfunc main() { http.ListenAndServe(":"+os.Getenv("PORT"), nil) }\n',
  },
  'go-cmd': {
    'go.mod': 'module example.com/svc\n\ngo 1.23\n\nrequire github.com/go-chi/chi/v5 v5.1.0\n',
    'go.sum': 'github.com/go-chi/chi/v5 v5.1.0 h1:x\n',
    'cmd/svc/main.go': 'package main\n\nfunc main() { _ = os.Getenv("PORT") }\n',
    'internal/h/h.go': 'package h\n',
  },
};

/** A monorepo: the service is the apps/api subfolder (the `path` of a git source). */
export const MONOREPO: Record<string, string> = {
  'package.json': pkg({ workspaces: ['apps/*'] }),
  'apps/api/package.json': pkg({ scripts: { start: 'node server.js' } }),
  'apps/api/package-lock.json': '{}',
  'apps/api/server.js': NODE_SERVER,
  'apps/web/package.json': pkg({ dependencies: { next: '^15.0.0' } }),
};

/** The files of one subfolder, relative to it. */
export function subfolder(files: Record<string, string>, dir: string): Record<string, string> {
  return Object.fromEntries(Object.entries(files).flatMap(([k, v]) => (k.startsWith(`${dir}/`) ? [[k.slice(dir.length + 1), v]] : [])));
}

/** Seed 001's failure modes: a repository each, with the Dockerfile that has it, and the rule that must catch it. */
export const FAILURE_MODES: { name: string; code: string; files: Record<string, string> }[] = [
  {
    name: 'third-party apt repository (NodeSource on a Python image)',
    code: 'BTN001',
    files: {
      'requirements.txt': 'flask\n',
      Dockerfile:
        'FROM python:3.12-slim\nRUN apt-get update && apt-get install -y --no-install-recommends curl gnupg \\\n && curl -fsSL https://deb.nodesource.com/setup_20.x | bash - \\\n && apt-get install -y --no-install-recommends nodejs && rm -rf /var/lib/apt/lists/*\nUSER nobody\nCMD ["gunicorn", "app:app"]\n',
    },
  },
  {
    name: 'pip install --user, then the tool is not on PATH',
    code: 'BTN002',
    files: {
      'requirements.txt': 'gunicorn\n',
      Dockerfile:
        'FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nRUN pip install --no-cache-dir --user -r requirements.txt\nUSER nobody\nCMD ["gunicorn", "app:app"]\n',
    },
  },
  {
    name: "prisma-client-py engines left in the builder's ~/.cache",
    code: 'BTN003',
    files: {
      'requirements.txt': 'prisma\nfastapi\nuvicorn\n',
      'schema.prisma': 'generator client { provider = "prisma-client-py" }\n',
      Dockerfile:
        'FROM python:3.12-slim AS build\nWORKDIR /app\nRUN python -m venv /opt/venv\nENV PATH=/opt/venv/bin:$PATH\nCOPY . .\nRUN pip install --no-cache-dir -r requirements.txt && prisma generate\n\nFROM python:3.12-slim\nWORKDIR /app\nENV PATH=/opt/venv/bin:$PATH\nCOPY --from=build /opt/venv /opt/venv\nCOPY --from=build /app /app\nUSER nobody\nCMD ["sh", "-c", "exec uvicorn main:app --host 0.0.0.0 --port $PORT"]\n',
    },
  },
  {
    name: 'code generation in CMD',
    code: 'BTN004',
    files: {
      'package.json': pkg({ scripts: { start: 'prisma generate && node server.js' } }),
      'package-lock.json': '{}',
      Dockerfile: 'FROM node:22-slim\nWORKDIR /app\nCOPY . .\nRUN npm ci\nUSER node\nCMD ["npm", "start"]\n',
    },
  },
  {
    name: 'uvicorn on its default 127.0.0.1',
    code: 'BTN005',
    files: {
      'requirements.txt': 'fastapi\nuvicorn\n',
      Dockerfile:
        'FROM python:3.12-slim\nWORKDIR /app\nCOPY . .\nRUN pip install --no-cache-dir -r requirements.txt\nUSER nobody\nCMD ["uvicorn", "main:app"]\n',
    },
  },
  {
    name: 'root in the final stage',
    code: 'BTN006',
    files: {
      'package.json': pkg({ scripts: { start: 'node s.js' } }),
      Dockerfile: 'FROM node:22-slim\nWORKDIR /app\nCOPY . .\nCMD ["node", "s.js"]\n',
    },
  },
  {
    name: 'an untagged base through an ARG default',
    code: 'DL3006',
    files: { 'package.json': pkg({}), Dockerfile: 'ARG BASE=node\nFROM ${BASE}\nWORKDIR /app\nUSER node\nCMD ["node", "s.js"]\n' },
  },
  {
    name: 'a token in ENV',
    code: 'DL3064',
    files: {
      'package.json': pkg({}),
      Dockerfile: 'FROM node:22-slim\nENV GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789\nUSER node\nCMD ["node", "s.js"]\n',
    },
  },
  {
    name: 'COPY . . with a .env and no .dockerignore',
    code: 'BTN009',
    files: {
      'package.json': pkg({}),
      '.env': 'DB_PASSWORD=hunter2\n',
      Dockerfile: 'FROM node:22-slim\nWORKDIR /app\nCOPY . .\nUSER node\nCMD ["node", "s.js"]\n',
    },
  },
];
