/**
 * `baton completion bash|zsh`: completion scripts generated from the CLI's own command and option
 * tables, so they cannot drift from what the parser accepts.
 */
export function completionScript(
  shell: 'bash' | 'zsh',
  commands: Record<string, { options: readonly string[] }>,
  globals: readonly string[],
): string {
  const names = Object.keys(commands);
  const cases = names.map((c) => `    ${c}) opts="${[...commands[c].options, ...globals].map((o) => `--${o}`).join(' ')}" ;;`).join('\n');
  const bash = `# baton completion for bash: source <(npm run -s baton -- completion bash)  (or: baton completion bash)
_baton() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd="\${COMP_WORDS[1]}" opts=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${names.join(' ')}" -- "$cur") )
    return
  fi
  case "$cmd" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$opts" -- "$cur") )
  else
    COMPREPLY=( $(compgen -f -- "$cur") )
  fi
}
complete -F _baton baton
`;
  if (shell === 'bash') return bash;
  // zsh runs bash completion functions through bashcompinit.
  return `# baton completion for zsh: source <(baton completion zsh)
autoload -U +X bashcompinit && bashcompinit
${bash}`;
}
