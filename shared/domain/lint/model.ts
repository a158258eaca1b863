import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { parse as parseShell } from 'shell-quote';

/**
 * A Dockerfile as the rules read it, built from dockerfile-ast's parse (never regular expressions
 * over lines): stages with their base image resolved through ARG defaults, each instruction with
 * its line, flags, exec-form words, ENV/ARG properties, and shell commands split on operators.
 */

export interface Instr {
  keyword: string;
  /** 1-based, the instruction's first line. */
  line: number;
  column: number;
  /** The arguments as written, continuation lines joined. */
  text: string;
  flags: Record<string, string | null>;
  /** Exec form (a JSON array): its strings; null in shell form. */
  json: string[] | null;
  /** ENV/ARG: name → value (null: an ARG with no default). */
  properties: [string, string | null][];
  /** Shell form RUN/CMD/ENTRYPOINT: the simple commands, operators between them. */
  commands: string[][];
  operators: string[];
  stage: number;
}

export interface Stage {
  index: number;
  name: string | null;
  /** The base image as written and as resolved through ARG defaults. */
  image: string;
  resolved: string;
  /** The ARG the image came from, when it did. */
  viaArg: string | null;
  line: number;
  /** The stage the base refers to when FROM names an earlier stage. */
  fromStage: number | null;
  instrs: Instr[];
}

export interface DockerfileModel {
  stages: Stage[];
  /** Instructions before the first FROM (ARGs, or what DL3061 refuses). */
  preamble: Instr[];
  all: Instr[];
  comments: { line: number; text: string }[];
}

/** Shell words and operators of a command line; $VARS kept as written. */
export function shellCommands(text: string): { commands: string[][]; operators: string[] } {
  const commands: string[][] = [[]];
  const operators: string[] = [];
  let tokens: ReturnType<typeof parseShell>;
  try {
    tokens = parseShell(text, (name) => `$${name}`);
  } catch {
    return { commands: [text.split(/\s+/)], operators: [] };
  }
  for (const t of tokens) {
    if (typeof t === 'string') commands[commands.length - 1].push(t);
    else if ('op' in t && t.op !== 'glob') {
      operators.push(t.op);
      if (['&&', '||', ';', '|', '&', '|&', ';;', '(', ')'].includes(t.op)) commands.push([]);
    } else if ('op' in t && t.op === 'glob') commands[commands.length - 1].push(t.pattern);
    else if ('comment' in t) break;
  }
  return { commands: commands.filter((c) => c.length > 0), operators };
}

function instr(i: Instruction, stage: number): Instr {
  const keyword = i.getKeyword().toUpperCase();
  const text = i.getArgumentsContent() ?? '';
  const withFlags = i as unknown as { getFlags?: () => { getName(): string; getValue(): string | null }[] };
  const flags: Record<string, string | null> = {};
  for (const f of withFlags.getFlags?.() ?? []) flags[f.getName().toLowerCase()] = f.getValue();
  const json = execForm(text);
  const withProps = i as unknown as { getProperties?: () => { getName(): string; getValue(): string | null }[] };
  const properties = (withProps.getProperties?.() ?? []).map((p) => [p.getName(), p.getValue()] as [string, string | null]);
  // The words after the flags, for RUN/CMD/ENTRYPOINT in shell form.
  const body = text.replace(/^(\s*--[a-z-]+(=\S+)?\s+)+/i, '');
  const shell = json === null && ['RUN', 'CMD', 'ENTRYPOINT'].includes(keyword) ? shellCommands(body) : { commands: [], operators: [] };
  const { line, character } = i.getRange().start;
  return { keyword, line: line + 1, column: character + 1, text, flags, json, properties, ...shell, stage };
}

/** The exec form's strings (a JSON array of strings), or null for the shell form. */
function execForm(text: string): string[] | null {
  const t = text.trim();
  if (!t.startsWith('[')) return null;
  try {
    const v: unknown = JSON.parse(t);
    return Array.isArray(v) && v.every((w) => typeof w === 'string') ? (v as string[]) : null;
  } catch {
    return null;
  }
}

function substitute(value: string, vars: Map<string, string | null>): string {
  return value.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}?/g, (_m, name: string, def?: string) => vars.get(name) ?? def ?? '');
}

export function parseDockerfile(text: string): DockerfileModel {
  const doc = DockerfileParser.parse(text);
  const stages: Stage[] = [];
  const preamble: Instr[] = [];
  const all: Instr[] = [];
  const globals = new Map<string, string | null>();
  for (const i of doc.getInstructions()) {
    const keyword = i.getKeyword().toUpperCase();
    if (keyword === 'FROM') {
      const args = i.getArguments().map((a) => a.getValue());
      const imageWord = args.find((a) => !a.startsWith('--')) ?? '';
      const asAt = args.findIndex((a) => a.toUpperCase() === 'AS');
      const name = asAt >= 0 ? (args[asAt + 1] ?? null) : null;
      const resolved = substitute(imageWord, globals);
      const viaArg = /\$\{?([A-Za-z_][A-Za-z0-9_]*)/.exec(imageWord)?.[1] ?? null;
      const fromStage = stages.find((s) => s.name !== null && s.name.toLowerCase() === resolved.toLowerCase())?.index ?? null;
      stages.push({
        index: stages.length,
        name,
        image: imageWord,
        resolved,
        viaArg,
        line: i.getRange().start.line + 1,
        fromStage,
        instrs: [],
      });
    }
    const current = stages.length - 1;
    const model = instr(i, current);
    all.push(model);
    if (current < 0) {
      preamble.push(model);
      if (keyword === 'ARG') for (const [k, v] of model.properties) globals.set(k, v);
    } else if (keyword !== 'FROM') stages[current].instrs.push(model);
  }
  const comments = doc.getComments().map((c) => ({ line: c.getRange().start.line + 1, text: c.getContent() }));
  return { stages, preamble, all, comments };
}

/** ENV values a stage has set up to `line` (its base stage's first), for PATH and friends. */
export function envAt(model: DockerfileModel, stage: Stage, line: number): Map<string, string> {
  const chain: Stage[] = [];
  for (let s: Stage | undefined = stage; s; s = s.fromStage !== null ? model.stages[s.fromStage] : undefined) chain.unshift(s);
  const env = new Map<string, string>();
  for (const s of chain)
    for (const i of s.instrs) {
      if (s === stage && i.line >= line) break;
      if (i.keyword === 'ENV') for (const [k, v] of i.properties) env.set(k, substitute(v ?? '', new Map(env)));
    }
  return env;
}
