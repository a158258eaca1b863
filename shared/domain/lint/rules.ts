import { words } from '../analysis/command.js';
import { type DockerfileModel, envAt, type Instr, type Stage, shellCommands } from './model.js';

export type Level = 'error' | 'warning' | 'info' | 'style';

export interface RuleContext {
  model: DockerfileModel;
  /** The build context's files and a reader of their contents (package.json, entrypoint scripts, .dockerignore). */
  files: readonly string[];
  read(path: string): string | null;
  trustedRegistries: readonly string[];
}

export interface Hit {
  /** Overrides the rule's level for this finding (a rule with an error and a warning case). */
  level?: Level;
  line: number;
  column?: number;
  message: string;
  fix: string;
}

export interface Rule {
  code: string;
  level: Level;
  title: string;
  check(ctx: RuleContext): Hit[];
}

const hit = (i: { line: number; column?: number }, message: string, fix: string): Hit => ({
  line: i.line,
  column: i.column ?? 1,
  message,
  fix,
});
const runs = (m: DockerfileModel) => m.all.filter((i) => i.keyword === 'RUN');
const last = (m: DockerfileModel): Stage | undefined => m.stages[m.stages.length - 1];
/** Every simple command a RUN executes, `sh -c "…"` bodies followed. */
function commandsOf(i: Instr): string[][] {
  const out: string[][] = [];
  const visit = (cmds: string[][], depth: number) => {
    for (const c of cmds) {
      out.push(c);
      const at = c.findIndex((w, k) => (w === 'sh' || w === 'bash' || w.endsWith('/sh') || w.endsWith('/bash')) && c[k + 1] === '-c');
      if (at >= 0 && c[at + 2] && depth < 3) visit(shellCommands(c[at + 2]).commands, depth + 1);
    }
  };
  visit(i.json ? [i.json] : i.commands, 0);
  return out;
}
const isApt = (c: string[]) => (c[0] === 'apt-get' || c[0] === 'apt') && c.includes('install');
const stageRefs = (m: DockerfileModel, upTo: number) =>
  new Map(m.stages.slice(0, upTo).flatMap((s) => [[String(s.index), s] as const, ...(s.name ? [[s.name.toLowerCase(), s] as const] : [])]));

/** The start command as the image runs it: ENTRYPOINT + CMD of the final stage, as words, shell bodies followed. */
export function startCommands(ctx: RuleContext): { instr: Instr; commands: string[][]; text: string }[] {
  const stage = last(ctx.model);
  if (!stage) return [];
  const chain: Stage[] = [];
  for (let s: Stage | undefined = stage; s; s = s.fromStage !== null ? ctx.model.stages[s.fromStage] : undefined) chain.push(s);
  const out: { instr: Instr; commands: string[][]; text: string }[] = [];
  for (const kw of ['ENTRYPOINT', 'CMD']) {
    const instr = chain.flatMap((s) => s.instrs.filter((i) => i.keyword === kw)).pop();
    if (!instr) continue;
    const commands = commandsOf(instr);
    // Followed: npm/yarn/pnpm start → the package.json script; an entrypoint script copied from the context.
    const pkg = safeJson(ctx.read('package.json'));
    for (const c of [...commands]) {
      const script = ['npm', 'yarn', 'pnpm', 'bun'].includes(c[0]) ? (c[1] === 'run' ? c[2] : c[1]) : null;
      const body = script ? pkg?.scripts?.[script] : undefined;
      if (body) commands.push(...shellCommands(body).commands);
      const file = c[0]?.replace(/^\.\//, '').replace(/^\/app\//, '');
      if (file?.endsWith('.sh') || (c[0] === 'sh' && c[1]?.endsWith('.sh'))) {
        const name = (c[0] === 'sh' ? c[1] : file).split('/').pop() ?? '';
        const text = ctx.read(ctx.files.find((f) => f === file || f.split('/').pop() === name) ?? '');
        if (text) for (const line of text.split('\n')) if (!line.trim().startsWith('#')) commands.push(...shellCommands(line).commands);
      }
    }
    out.push({ instr, commands, text: instr.json ? instr.json.join(' ') : instr.text });
  }
  return out;
}

function safeJson(text: string | null): { scripts?: Record<string, string> } | null {
  try {
    return text ? (JSON.parse(text) as { scripts?: Record<string, string> }) : null;
  } catch {
    return null;
  }
}

const SECRET_NAME = /(SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL|ACCESS_?KEY)/i;
const SECRET_VALUE: [string, RegExp][] = [
  ['a private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['an AWS access key id', /\b(AKIA|ASIA)[0-9A-Z]{16}\b/],
  ['a GitHub token', /\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})/],
  ['an API secret key', /\bsk-[A-Za-z0-9_-]{16,}/],
  ['a URL with a password', /\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@$]+:[^/\s@$]+@/i],
];

export const RULES: Rule[] = [
  {
    code: 'DL3061',
    level: 'error',
    title: 'Dockerfile must begin with FROM or ARG',
    check: ({ model }) => {
      const first = model.all[0];
      if (!first) return [{ line: 1, column: 1, message: 'The Dockerfile has no instructions', fix: 'Start it with FROM <image>' }];
      return first.keyword === 'FROM' || first.keyword === 'ARG'
        ? []
        : [hit(first, `The Dockerfile starts with ${first.keyword}`, 'Start it with FROM (or ARGs used by FROM)')];
    },
  },
  {
    code: 'DL3024',
    level: 'error',
    title: 'FROM aliases must be unique',
    check: ({ model }) => {
      const seen = new Set<string>();
      return model.stages.flatMap((s) => {
        const n = s.name?.toLowerCase();
        if (!n) return [];
        if (seen.has(n))
          return [{ line: s.line, column: 1, message: `The stage name ${s.name} is used twice`, fix: 'Give each stage its own name' }];
        seen.add(n);
        return [];
      });
    },
  },
  {
    code: 'DL3022',
    level: 'warning',
    title: 'COPY --from should reference a previously defined FROM alias',
    check: ({ model }) =>
      model.all.flatMap((i) => {
        const from = i.keyword === 'COPY' ? i.flags.from : undefined;
        if (!from || /[:/@]/.test(from) || from.startsWith('$')) return [];
        const refs = stageRefs(model, i.stage);
        const own = model.stages[i.stage];
        if (refs.has(from.toLowerCase()) || own?.name?.toLowerCase() === from.toLowerCase() || String(own?.index) === from) return [];
        return [
          hit(i, `COPY --from=${from} names no earlier stage`, `Name a stage defined above (FROM … AS ${from}) or an image with its tag`),
        ];
      }),
  },
  {
    code: 'DL3023',
    level: 'error',
    title: 'COPY --from cannot reference its own FROM alias',
    check: ({ model }) =>
      model.all.flatMap((i) => {
        const from = i.keyword === 'COPY' ? i.flags.from?.toLowerCase() : undefined;
        const own = model.stages[i.stage];
        return from && own && (own.name?.toLowerCase() === from || String(own.index) === from)
          ? [hit(i, `COPY --from=${i.flags.from} copies from the stage it is in`, 'Copy from an earlier stage')]
          : [];
      }),
  },
  {
    code: 'DL3021',
    level: 'error',
    title: 'COPY with more than 2 arguments requires the last argument to end with /',
    check: ({ model }) =>
      model.all.flatMap((i) => {
        if (i.keyword !== 'COPY' && i.keyword !== 'ADD') return [];
        const args = i.json ?? words(i.text.replace(/--[a-z-]+(=\S+)?/gi, ''));
        const dest = args[args.length - 1] ?? '';
        return args.length > 2 && !dest.endsWith('/')
          ? [hit(i, `${i.keyword} of several sources into ${dest}`, `End the destination with a slash: ${dest}/`)]
          : [];
      }),
  },
  {
    code: 'DL3000',
    level: 'error',
    title: 'Use absolute WORKDIR',
    check: ({ model }) =>
      model.all.flatMap((i) => {
        const dir = i.keyword === 'WORKDIR' ? i.text.trim().replace(/^["']|["']$/g, '') : null;
        return dir !== null && !dir.startsWith('/') && !dir.startsWith('$')
          ? [hit(i, `WORKDIR ${dir} is relative`, `Use an absolute path: WORKDIR /${dir}`)]
          : [];
      }),
  },
  {
    code: 'DL3014',
    level: 'warning',
    title: 'Use the -y switch with apt-get install',
    check: ({ model }) =>
      runs(model).flatMap((i) =>
        commandsOf(i)
          .filter((c) => isApt(c) && !c.some((w) => ['-y', '--yes', '-qq', '--assume-yes', '-yq', '-qy'].includes(w)))
          .map(() => hit(i, 'apt-get install without -y waits for an answer no build gives', 'Add -y: apt-get install -y …')),
      ),
  },
  {
    code: 'DL3004',
    level: 'error',
    title: 'Do not use sudo',
    check: ({ model }) =>
      runs(model).flatMap((i) =>
        commandsOf(i).some((c) => c[0] === 'sudo')
          ? [hit(i, 'RUN uses sudo', 'Drop sudo: RUN runs as the current USER; switch with USER root where needed')]
          : [],
      ),
  },
  {
    code: 'DL4006',
    level: 'warning',
    title: 'Set the SHELL option -o pipefail before RUN with a pipe in it',
    check: ({ model }) => {
      const pipefail = (stage: number, line: number) =>
        model.all.some((i) => i.keyword === 'SHELL' && i.stage === stage && i.line < line && (i.json ?? []).includes('pipefail'));
      return runs(model).flatMap((i) =>
        i.json === null && i.operators.includes('|') && !pipefail(i.stage, i.line) && !/set -o pipefail/.test(i.text)
          ? [
              hit(
                i,
                'A pipe in RUN hides the failure of all but its last command',
                'Add SHELL ["/bin/bash", "-o", "pipefail", "-c"] before it, or `set -o pipefail &&`',
              ),
            ]
          : [],
      );
    },
  },
  ...(['CMD', 'ENTRYPOINT'] as const).map(
    (kw): Rule => ({
      code: kw === 'CMD' ? 'DL4003' : 'DL4004',
      level: kw === 'CMD' ? 'warning' : 'error',
      title: `Multiple ${kw} instructions found`,
      check: ({ model }) =>
        model.stages.flatMap((s) =>
          s.instrs
            .filter((i) => i.keyword === kw)
            .slice(1)
            .map((i) => hit(i, `A second ${kw} in the stage: only the last one takes effect`, `Keep one ${kw} per stage`)),
        ),
    }),
  ),
  {
    code: 'DL3025',
    level: 'warning',
    title: 'Use arguments JSON notation for CMD and ENTRYPOINT arguments',
    check: ({ model }) =>
      model.all
        .filter((i) => (i.keyword === 'CMD' || i.keyword === 'ENTRYPOINT') && i.json === null)
        .map((i) =>
          hit(
            i,
            `${i.keyword} in shell form runs under /bin/sh -c, which does not pass SIGTERM on: Cloud Run's stop kills it after 10 s`,
            `Write it as a JSON array: ${i.keyword} ${JSON.stringify(words(i.text))}`,
          ),
        ),
  },
  {
    code: 'DL3006',
    level: 'warning',
    title: 'Always tag the version of an image explicitly',
    check: ({ model }) =>
      model.stages.flatMap((s) => {
        if (s.fromStage !== null || s.resolved === 'scratch' || s.resolved.includes('@')) return [];
        const name = s.resolved.split('/').pop() ?? '';
        if (s.resolved === '')
          return [
            {
              line: s.line,
              column: 1,
              message: `FROM ${s.image} resolves to nothing (no default for ARG ${s.viaArg})`,
              fix: `Give ARG ${s.viaArg} a default with a tag`,
            },
          ];
        return name.includes(':')
          ? []
          : [
              {
                line: s.line,
                column: 1,
                message: `FROM ${s.image}${s.viaArg ? ` (${s.resolved} from ARG ${s.viaArg})` : ''} has no tag: the build takes whatever latest is that day`,
                fix: `Pin a version: ${s.resolved}:<version>-slim or a digest`,
              },
            ];
      }),
  },
  {
    code: 'DL3007',
    level: 'warning',
    title: 'Using latest is prone to errors',
    check: ({ model }) =>
      model.stages
        .filter((s) => s.fromStage === null && /:latest$/.test(s.resolved))
        .map((s) => ({
          line: s.line,
          column: 1,
          message: `FROM ${s.image}${s.viaArg ? ` (${s.resolved} from ARG ${s.viaArg})` : ''} uses latest`,
          fix: 'Pin a version tag or a digest',
        })),
  },
  {
    code: 'DL3026',
    level: 'error',
    title: 'Use only an allowed registry in the FROM image',
    check: ({ model, trustedRegistries }) =>
      trustedRegistries.length === 0
        ? []
        : model.stages.flatMap((s) => {
            if (s.fromStage !== null || s.resolved === 'scratch') return [];
            const first = s.resolved.split('/')[0];
            const registry = s.resolved.includes('/') && /[.:]|^localhost$/.test(first) ? first : 'docker.io';
            return trustedRegistries.includes(registry)
              ? []
              : [
                  {
                    line: s.line,
                    column: 1,
                    message: `FROM ${s.resolved} is from ${registry}, not a trusted registry (${trustedRegistries.join(', ')})`,
                    fix: 'Use an image from a trusted registry',
                  },
                ];
          }),
  },
  {
    code: 'DL3002',
    level: 'warning',
    title: 'Last USER should not be root',
    check: ({ model }) => {
      const users = last(model)?.instrs.filter((i) => i.keyword === 'USER') ?? [];
      const u = users[users.length - 1];
      return u && /^(root|0)(:|$)/.test(u.text.trim())
        ? [hit(u, 'The final stage runs as root', 'Switch to a user of its own: USER node (or a user you create)')]
        : [];
    },
  },
  {
    code: 'DL3064',
    level: 'error',
    title: 'Secrets must not be set in ENV or ARG',
    check: ({ model }) =>
      model.all.flatMap((i) => {
        if (i.keyword !== 'ENV' && i.keyword !== 'ARG') return [];
        return i.properties.flatMap(([name, value]) => {
          const shape = SECRET_VALUE.find(([, re]) => re.test(value ?? ''));
          if (shape)
            return [
              hit(
                i,
                `${i.keyword} ${name} holds ${shape[0]}: it stays in the image's layers and history`,
                'Remove it; pass it at run time as a secret (deployment secrets) or at build time with RUN --mount=type=secret',
              ),
            ];
          if (SECRET_NAME.test(name) && value && !value.startsWith('$') && !value.startsWith('/'))
            return [
              hit(
                i,
                `${i.keyword} ${name} sets a secret-looking value in the image`,
                'Remove it; pass it at run time as a secret (deployment secrets) or at build time with RUN --mount=type=secret',
              ),
            ];
          return [];
        });
      }),
  },
  {
    code: 'DL3067',
    level: 'warning',
    title: 'COPY --from=<stage> / / copies the whole filesystem of a stage',
    check: ({ model }) =>
      model.all.flatMap((i) => {
        if (i.keyword !== 'COPY' || !i.flags.from) return [];
        const args = i.json ?? words(i.text.replace(/--[a-z-]+(=\S+)?/gi, ''));
        return args.length === 2 && args[0] === '/'
          ? [
              hit(
                i,
                `COPY --from=${i.flags.from} / copies the whole stage, build tools and caches included`,
                'Copy only what the service needs to run',
              ),
            ]
          : [];
      }),
  },
  {
    code: 'DL3045',
    level: 'warning',
    title: 'COPY to a relative destination without WORKDIR set',
    check: ({ model }) =>
      model.stages.flatMap((s) => {
        let workdir = s.fromStage !== null && model.stages[s.fromStage].instrs.some((i) => i.keyword === 'WORKDIR');
        return s.instrs.flatMap((i) => {
          if (i.keyword === 'WORKDIR') workdir = true;
          if (i.keyword !== 'COPY' || workdir) return [];
          const args = i.json ?? words(i.text.replace(/--[a-z-]+(=\S+)?/gi, ''));
          const dest = args[args.length - 1] ?? '';
          return dest.startsWith('/') || dest.startsWith('$')
            ? []
            : [hit(i, `COPY to ${dest} with no WORKDIR: it lands wherever the base image's WORKDIR is`, 'Set WORKDIR /app before it')];
        });
      }),
  },
  {
    code: 'DL3009',
    level: 'info',
    title: 'Delete the apt-get lists after installing something',
    check: ({ model }) =>
      runs(model).flatMap((i) =>
        commandsOf(i).some(isApt) && !/rm -rf \/var\/lib\/apt\/lists/.test(i.text) && !i.flags.mount?.includes('/var/lib/apt')
          ? [hit(i, 'apt-get install leaves /var/lib/apt/lists in the layer', 'End the RUN with && rm -rf /var/lib/apt/lists/*')]
          : [],
      ),
  },
  {
    code: 'DL3015',
    level: 'info',
    title: 'Avoid additional packages by specifying --no-install-recommends',
    check: ({ model }) =>
      runs(model).flatMap((i) =>
        commandsOf(i)
          .filter((c) => isApt(c) && c[0] === 'apt-get' && !c.includes('--no-install-recommends'))
          .map(() => hit(i, 'apt-get install pulls in recommended packages too', 'Add --no-install-recommends')),
      ),
  },
  {
    code: 'DL3042',
    level: 'warning',
    title: 'Avoid the pip cache with pip install --no-cache-dir',
    check: ({ model }) => {
      return runs(model).flatMap((i) => {
        const env = envAt(model, model.stages[i.stage] ?? model.stages[0], i.line);
        if (env.get('PIP_NO_CACHE_DIR') || i.flags.mount?.includes('cache')) return [];
        return commandsOf(i)
          .filter((c) => /^pip3?$|\/pip3?$/.test(c[0] ?? '') && c[1] === 'install' && !c.includes('--no-cache-dir'))
          .map(() => hit(i, 'pip install keeps its download cache in the layer', 'Add --no-cache-dir (or ENV PIP_NO_CACHE_DIR=1)'));
      });
    },
  },
  {
    code: 'DL3060',
    level: 'info',
    title: 'yarn cache clean missing after yarn install',
    check: ({ model }) =>
      runs(model).flatMap((i) => {
        const cmds = commandsOf(i);
        const installs = cmds.some((c) => c[0] === 'yarn' && (c.length === 1 || c[1] === 'install' || c[1]?.startsWith('--')));
        return installs && !cmds.some((c) => c[0] === 'yarn' && c[1] === 'cache' && c[2] === 'clean') && !i.flags.mount
          ? [hit(i, 'yarn install keeps its cache in the layer', 'Add && yarn cache clean')]
          : [];
      }),
  },
  {
    code: 'DL3020',
    level: 'error',
    title: 'Use COPY instead of ADD for files and folders',
    check: ({ model }) =>
      model.all.flatMap((i) => {
        if (i.keyword !== 'ADD') return [];
        const args = (i.json ?? words(i.text.replace(/--[a-z-]+(=\S+)?/gi, ''))).slice(0, -1);
        return args.every((a) => /^https?:\/\/|^git@|\.(tar(\.\w+)?|tgz|tbz2?|txz)$/.test(a))
          ? []
          : [
              hit(
                i,
                'ADD of local files: ADD also fetches URLs and unpacks archives, which COPY makes explicit',
                `Use COPY ${args.join(' ')} …`,
              ),
            ];
      }),
  },
  {
    code: 'DL3003',
    level: 'warning',
    title: 'Use WORKDIR to switch to a directory',
    check: ({ model }) =>
      runs(model).flatMap((i) =>
        i.commands.some((c) => c[0] === 'cd') ? [hit(i, 'cd in RUN lasts only for that RUN', 'Use WORKDIR <dir> instead')] : [],
      ),
  },
];
