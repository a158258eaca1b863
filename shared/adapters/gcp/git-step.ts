import { COMMIT_MARKER } from '../../domain/events.js';
import { isCommitSha } from '../../domain/git-source.js';

/** What a build fetches: a git source as the API accepted it on the gcp target (https, no credentials in the URL). */
export interface GitFetch {
  url: string;
  ref: string;
  path?: string;
  /** A Secret Manager secret id holding a token for the repository's host. */
  token_secret?: string;
}

/** The builder image of the fetch step: Google's, with git, bash and coreutils. */
export const GIT_BUILDER = 'gcr.io/cloud-builders/git';
/** The environment variable the token reaches the fetch step in (availableSecrets → secretEnv), and no other step. */
export const TOKEN_ENV = 'BATON_GIT_TOKEN';
/** Where the clone goes, under /workspace; the Dockerfile, build and push steps run in it (or in its `path`). */
export const CLONE_DIR = 'src';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/**
 * Cloud Build reads `$NAME` and `${NAME}` in a step's args as substitutions; `$$` is a literal `$`.
 * Every `$` of a shell script is doubled so Cloud Build hands bash the script as written.
 */
export function cloudBuildLiteral(script: string): string {
  return script.replaceAll('$', () => '$$');
}

/**
 * The fetch step's bash script, before Cloud Build's escaping: a shallow, single-branch clone of a
 * branch or tag (`git clone --depth 1 --single-branch --no-tags --branch`), or a shallow fetch of a
 * commit sha, into /workspace/src; the commit checked out written to $BUILDER_OUTPUT/output (the
 * build's results.buildStepOutputs) and to the log; `path` checked to be a folder of it.
 *
 * As on the local target: only the https transport (protocol.allow=never otherwise: no file://,
 * ext::, ssh through a redirect or a submodule), no prompt, no system or global config. The URL, ref
 * and path travel base64-encoded, so no quoting of theirs reaches bash. A token arrives in
 * $BATON_GIT_TOKEN (availableSecrets → this step's secretEnv only), becomes an Authorization header
 * scoped to the repository's own scheme and host (`http.https://host/.extraHeader`) passed through
 * GIT_CONFIG_* variables, and the variable is unset before git runs: it is never in the request's
 * args, a file, a command line or the log; with a token, redirects are not followed at all.
 */
export function gitFetchScript(git: GitFetch, host: string): string {
  const sha = isCommitSha(git.ref);
  const path = git.path ? `${CLONE_DIR}/${git.path}` : CLONE_DIR;
  const fix = git.token_secret
    ? `check source.url and source.ref, and that the token in ${git.token_secret} can read the repository`
    : 'check source.url and source.ref; a private repository needs source.token_secret';
  return [
    'set -eu',
    `url="$(echo ${b64(git.url)} | base64 -d)"`,
    `ref="$(echo ${b64(git.ref)} | base64 -d)"`,
    `dir="$(echo ${b64(path)} | base64 -d)"`,
    'export HOME=/tmp/baton-git-home GIT_TERMINAL_PROMPT=0 GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null',
    'mkdir -p "$HOME"',
    `set -- protocol.allow never protocol.https.allow always http.followRedirects ${git.token_secret ? 'false' : 'initial'} advice.detachedHead false`,
    ...(git.token_secret
      ? [
          `auth="$(printf 'x-access-token:%s' "$${TOKEN_ENV}" | base64 -w0)"`,
          `unset ${TOKEN_ENV}`,
          `set -- "$@" ${`http.https://${host}/.extraHeader`} "Authorization: Basic $auth"`,
          'unset auth',
        ]
      : []),
    'i=0',
    'while [ $# -gt 0 ]; do export "GIT_CONFIG_KEY_$i=$1" "GIT_CONFIG_VALUE_$i=$2"; shift 2; i=$((i + 1)); done',
    'export GIT_CONFIG_COUNT=$i',
    `echo "Fetching $url at $ref${git.path ? ` (folder ${git.path})` : ''}, shallow${git.token_secret ? `, with the token in secret ${git.token_secret}` : ''}"`,
    sha
      ? `{ git init --quiet ${CLONE_DIR} && git -C ${CLONE_DIR} fetch --quiet --depth 1 --no-tags -- "$url" "$ref" && git -C ${CLONE_DIR} checkout --quiet --detach FETCH_HEAD; } ||`
      : `git clone --quiet --depth 1 --single-branch --no-tags --branch "$ref" -- "$url" ${CLONE_DIR} ||`,
    `  { echo "Could not fetch $ref from $url: ${fix}" >&2; exit 1; }`,
    `commit="$(git -C ${CLONE_DIR} rev-parse HEAD)"`,
    'echo "Commit $commit"',
    `rm -rf ${CLONE_DIR}/.git`,
    ...(git.path ? [`[ -d "$dir" ] || { echo "The repository has no folder ${git.path} at $ref: check source.path" >&2; exit 1; }`] : []),
    `echo "${COMMIT_MARKER}$commit" > "\${BUILDER_OUTPUT:-/builder/outputs}/output"`,
  ].join('\n');
}
