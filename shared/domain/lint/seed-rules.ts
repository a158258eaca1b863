import { words } from '../analysis/command.js';
import { envAt, type Instr } from './model.js';
import { type Hit, type Rule, type RuleContext, startCommands } from './rules.js';

/**
 * Seed 001's build and start-up mistakes, none fully covered by hadolint, read on the model
 * (stages, ENV resolved, commands split, the start command followed through package.json
 * scripts, sh -c and entrypoint scripts copied from the context).
 */

const hit = (i: { line: number; column?: number }, message: string, fix: string): Hit => ({
  line: i.line,
  column: i.column ?? 1,
  message,
  fix,
});
const runCommands = (ctx: RuleContext) =>
  ctx.model.all.filter((i) => i.keyword === 'RUN').map((i) => ({ i, cmds: i.json ? [i.json] : i.commands }));
const finalStage = (ctx: RuleContext) => ctx.model.stages[ctx.model.stages.length - 1];
const has = (c: string[], ...seq: string[]) => c.some((_, k) => seq.every((s, j) => c[k + j] === s));

const CODEGEN: [RegExp, string][] = [
  [/\bprisma generate\b/, 'prisma generate'],
  [/\b(npm|pnpm|yarn|bun) (ci|install|i|add)\b/, 'a dependency install'],
  [/\bpip3? install\b/, 'pip install'],
  [/\bpoetry install\b/, 'poetry install'],
  [/\buv (sync|pip install)\b/, 'uv sync'],
  [/\buv run\b(?!.*--no-sync)/, 'uv run (which syncs the environment first; add --no-sync)'],
  [/\bnpx (?!--no-install)/, 'npx (which downloads what is not installed)'],
  [/\b(tsc|next build|nest build|nuxt build|vite build)\b/, 'a build'],
  [/\b(npm|pnpm|yarn|bun) run build\b/, 'a build'],
];
const MIGRATIONS = /\b(prisma migrate deploy|manage\.py migrate|alembic upgrade|knex migrate|sequelize db:migrate)\b/;

export const SEED_RULES: Rule[] = [
  {
    code: 'BTN001',
    level: 'error',
    title: 'Third-party apt repository',
    check: (ctx) =>
      runCommands(ctx).flatMap(({ i }) => {
        const t = i.text;
        const what = /deb\.nodesource\.com|nodesource\.com\/setup/.test(t)
          ? 'the NodeSource repository'
          : /add-apt-repository/.test(t)
            ? 'add-apt-repository'
            : /apt-key\s+add/.test(t)
              ? 'apt-key add'
              : /gpg\s+--dearmor/.test(t) || /\/etc\/apt\/sources\.list/.test(t)
                ? 'a repository written to /etc/apt (a key through gpg --dearmor or a sources.list entry)'
                : null;
        return what
          ? [
              hit(
                i,
                `RUN adds ${what}: a key or mirror that changes or goes away fails the build, and it runs as root with the network`,
                'Start from the official image for the runtime (FROM node:22-slim) or copy it in: COPY --from=node:22-slim /usr/local/bin/node /usr/local/bin/',
              ),
            ]
          : [];
      }),
  },
  {
    code: 'BTN002',
    level: 'error',
    title: 'pip --user (or pipx) installs into ~/.local/bin, which is not on PATH',
    check: (ctx) => {
      const out: Hit[] = [];
      for (const { i, cmds } of runCommands(ctx)) {
        const stage = ctx.model.stages[i.stage];
        if (!stage) continue;
        const env = envAt(ctx.model, stage, i.line);
        const user =
          cmds.some((c) => /pip3?$/.test(c[0] ?? '') && c.includes('install') && c.includes('--user')) ||
          env.get('PIP_USER') === '1' ||
          cmds.some((c) => c[0] === 'pipx' && c[1] === 'install');
        if (user && !/\.local\/bin/.test(env.get('PATH') ?? ''))
          out.push(
            hit(
              i,
              'pip install --user (or pipx) puts commands in ~/.local/bin, which is not on PATH: the start command is not found',
              'Install into a virtualenv: RUN python -m venv /opt/venv and ENV PATH=/opt/venv/bin:$PATH, then pip install without --user',
            ),
          );
      }
      const last = finalStage(ctx);
      const user = last?.instrs.filter((i) => i.keyword === 'USER').pop();
      for (const i of last?.instrs ?? [])
        if (i.keyword === 'COPY' && i.flags.from && /\/root\/\.local/.test(i.text) && user && !/^(root|0)\b/.test(user.text.trim()))
          out.push(
            hit(
              i,
              `COPY of /root/.local into a stage that runs as ${user.text.trim()}: that user cannot read /root, and its PATH does not name it`,
              'Build a virtualenv at /opt/venv in the builder and COPY --from=builder /opt/venv /opt/venv, with ENV PATH=/opt/venv/bin:$PATH',
            ),
          );
      return out;
    },
  },
  {
    code: 'BTN003',
    level: 'error',
    title: 'A builder writes generated binaries under $HOME/.cache that the final COPY --from leaves behind',
    check: (ctx) => {
      const last = finalStage(ctx);
      if (!last || ctx.model.stages.length < 2) return [];
      const out: Hit[] = [];
      for (const s of ctx.model.stages.slice(0, -1)) {
        const python = /python/.test(s.resolved) || s.instrs.some((i) => /pip3? install/.test(i.text));
        const tool = s.instrs.find(
          (i) =>
            i.keyword === 'RUN' &&
            ((python && /\bprisma (generate|py fetch)\b/.test(i.text)) ||
              /\bplaywright install\b/.test(i.text) ||
              /huggingface-cli download|snapshot_download/.test(i.text)),
        );
        if (!tool) continue;
        const env = envAt(ctx.model, s, tool.line);
        if (env.get('PRISMA_BINARY_CACHE_DIR') || env.get('PLAYWRIGHT_BROWSERS_PATH') || env.get('HF_HOME')) continue;
        const copies = last.instrs.filter((i) => i.keyword === 'COPY' && (i.flags.from === s.name || i.flags.from === String(s.index)));
        if (copies.length === 0) continue;
        if (copies.some((c) => /(^|\s)(\/root|\/root\/\.cache|~\/\.cache|\/home\/\S+\/\.cache|\/)(\s|\/?$)/.test(c.text))) continue;
        const cache = /playwright/.test(tool.text)
          ? '~/.cache/ms-playwright'
          : /prisma/.test(tool.text)
            ? '~/.cache/prisma-python/binaries'
            : '~/.cache/huggingface';
        out.push(
          hit(
            copies[0],
            `${s.name ?? `stage ${s.index}`} runs "${tool.text.slice(0, 60)}" (line ${tool.line}), which writes to ${cache}; COPY --from=${copies[0].flags.from} does not take it, so the final image lacks what was generated`,
            `Point the cache inside what you copy (ENV ${/playwright/.test(tool.text) ? 'PLAYWRIGHT_BROWSERS_PATH' : /prisma/.test(tool.text) ? 'PRISMA_BINARY_CACHE_DIR' : 'HF_HOME'}=/app/.cache in the builder) or copy ${cache} too`,
          ),
        );
      }
      return out;
    },
  },
  {
    code: 'BTN004',
    level: 'error',
    title: 'Code generation, a build or an install at start-up',
    check: (ctx) =>
      startCommands(ctx).flatMap(({ instr, commands }) => {
        const text = commands.map((c) => c.join(' ')).join(' ; ');
        const found = CODEGEN.find(([re]) => re.test(text));
        const out: Hit[] = [];
        if (found)
          out.push(
            hit(
              instr,
              `The start command runs ${found[1]}: every instance does it again at each cold start, against the start-up timeout, and may fetch from the network`,
              'Do it in a RUN of the build and start the built service directly',
            ),
          );
        if (MIGRATIONS.test(text))
          out.push({
            ...hit(
              instr,
              'The start command runs database migrations: every instance runs them at each start, concurrently',
              'Run migrations once per release (a job or a step before the deploy)',
            ),
            level: 'warning',
          });
        return out;
      }),
  },
  {
    code: 'BTN005',
    level: 'error',
    title: 'The start command binds localhost or a fixed port, or never expands $PORT',
    check: (ctx) => {
      const out: Hit[] = [];
      const last = finalStage(ctx);
      for (const { instr, commands } of startCommands(ctx)) {
        const env = last ? envAt(ctx.model, last, instr.line + 1) : new Map<string, string>();
        if (instr.json?.some((w) => /\$\{?PORT\b/.test(w)) && !commands.some((c) => c.includes('-c')))
          out.push(
            hit(
              instr,
              'A JSON-array CMD passes "$PORT" to the program as it is: no shell expands it',
              'Read PORT in the program, or run it through a shell: ["sh", "-c", "exec … --port $PORT"]',
            ),
          );
        for (const c of commands) {
          const line = c.join(' ');
          if (
            /(--host|--bind|-b|-H|--hostname)[ =](127\.0\.0\.1|localhost)\b/.test(line) ||
            /\b(127\.0\.0\.1|localhost):\$?\{?\w+/.test(line)
          )
            out.push(
              hit(
                instr,
                `"${line.slice(0, 80)}" listens on localhost: Cloud Run reaches the container from outside it`,
                'Listen on 0.0.0.0',
              ),
            );
          else if (/(^|\/)uvicorn$/.test(c[0] ?? '') && !c.includes('--host') && !env.get('UVICORN_HOST'))
            out.push(hit(instr, 'uvicorn listens on 127.0.0.1:8000 unless told', 'Add --host 0.0.0.0 --port $PORT (through sh -c)'));
          else if (has(c, 'flask', 'run') && !c.some((w) => w.startsWith('--host')))
            out.push(
              hit(
                instr,
                'flask run is a development server on 127.0.0.1:5000',
                'Serve with gunicorn (it binds 0.0.0.0:$PORT when PORT is set)',
              ),
            );
          else if (c.some((w) => w.endsWith('manage.py')) && c.includes('runserver') && !c.some((w) => w.startsWith('0.0.0.0')))
            out.push(hit(instr, 'manage.py runserver is a development server on 127.0.0.1:8000', 'Serve with gunicorn <project>.wsgi'));
          else if (c.some((w) => /(^|\/)vite$/.test(w)) && (c.includes('preview') || c.includes('dev') || c.length === 1))
            out.push(
              hit(
                instr,
                'vite preview/dev is a development server on localhost',
                "Build static files and serve them, or run the framework's production server",
              ),
            );
          const port = /(?:--port|-p|--bind|-b)[ =](?:0\.0\.0\.0:)?(\d{2,5})\b/.exec(line);
          if (port && port[1] !== '8080')
            out.push({
              ...hit(
                instr,
                `The start command fixes the port ${port[1]}: Cloud Run sends traffic to $PORT`,
                'Use $PORT (through sh -c) or let the server read PORT',
              ),
              level: 'warning',
            });
        }
        if (
          last &&
          commands.some((c) => c.some((w) => /standalone\/server\.js$|^server\.js$/.test(w))) &&
          ctx.model.all.some((i) => /\.next\/standalone/.test(i.text)) &&
          env.get('HOSTNAME') !== '0.0.0.0'
        )
          out.push(
            hit(
              instr,
              'The Next.js standalone server listens on $HOSTNAME, which Cloud Run sets to the instance name',
              'Add ENV HOSTNAME=0.0.0.0 to the final stage',
            ),
          );
      }
      return out;
    },
  },
  {
    code: 'BTN006',
    level: 'warning',
    title: 'The final stage runs as root',
    check: (ctx) => {
      const last = finalStage(ctx);
      if (!last) return [];
      let s: typeof last | undefined = last;
      while (s) {
        if (s.instrs.some((i) => i.keyword === 'USER')) return [];
        s = s.fromStage !== null ? ctx.model.stages[s.fromStage] : undefined;
      }
      if (/distroless.*nonroot|:nonroot/.test(last.resolved)) return [];
      return [
        {
          line: last.line,
          column: 1,
          message: 'The final stage sets no USER: the service runs as root',
          fix: 'Add USER node (Node images), or create one: RUN useradd -r app && USER app',
        },
      ];
    },
  },
  {
    code: 'BTN008',
    level: 'error',
    title: 'A secret written into a layer',
    check: (ctx) =>
      runCommands(ctx).flatMap(({ i }) =>
        /\becho\b[^|;&]*\$\{?[A-Z_]*(TOKEN|SECRET|PASSWORD|KEY|AUTH)[A-Z_]*\}?[^|;&]*>>?\s*\S*(\.npmrc|\.pypirc|\.netrc|\.git-credentials|\.docker\/config\.json)/.test(
          i.text,
        )
          ? [
              hit(
                i,
                'RUN writes a token into a credentials file: it stays in the layer even if a later RUN deletes it',
                'Mount it for that RUN only: RUN --mount=type=secret,id=npmrc,target=/root/.npmrc npm ci',
              ),
            ]
          : [],
      ),
  },
  {
    code: 'BTN009',
    level: 'error',
    title: 'COPY . . takes .env files into the image',
    check: (ctx) => {
      const envFiles = ctx.files.filter((f) => /(^|\/)\.env(\..+)?$/.test(f) && !/\.env\.(example|sample|template)$/.test(f));
      if (envFiles.length === 0) return [];
      const ignore = (ctx.read('.dockerignore') ?? '').split('\n').map((l) => l.trim());
      if (ignore.some((l) => /^(\*\*\/)?\.env(\*|\.\*)?$/.test(l) || l === '.env*')) return [];
      return ctx.model.all
        .filter(
          (i): i is Instr =>
            (i.keyword === 'COPY' || i.keyword === 'ADD') && !i.flags.from && words(i.text.replace(/--[a-z-]+(=\S+)?/gi, ''))[0] === '.',
        )
        .map((i) =>
          hit(
            i,
            `COPY . copies ${envFiles.slice(0, 3).join(', ')} into the image: the .dockerignore does not exclude .env files`,
            'Add .env* to .dockerignore and pass the values as deployment env or secrets',
          ),
        );
    },
  },
];
