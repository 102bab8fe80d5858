// `vm completions <shell>` scripts, sourced in the real shells and driven the way TAB drives them:
// the script calls the `vm` it finds on PATH (here a wrapper that runs main.ts from source), so
// every answer below went through the shell's own completion machinery and `vm complete`.
import assert from "node:assert/strict";
import { selfCommand } from "../../src/daemon/self_command.ts";
import { join } from "node:path";

const BASH_COMPLETION = "/usr/share/bash-completion/bash_completion";
const TIMEOUT_MS = 60_000;

/** The command lines completed, each as typed up to the TAB. */
const LINES = ["vm ", "vm pkg ", "vm pkg start --", "vm pkg st"];

const bash = onPath("bash");
const zsh = onPath("zsh");
const fish = onPath("fish");
const bashCompletion = exists(BASH_COMPLETION);
if (!bash) console.warn("completions_test: skipping bash: bash not installed");
if (bash && !bashCompletion) {
  console.warn(`completions_test: skipping bash + bash-completion: ${BASH_COMPLETION} not found`);
}
if (!zsh) console.warn("completions_test: skipping zsh: zsh not installed");
if (!fish) console.warn("completions_test: skipping fish: fish not installed");

// bash cannot run a completion without a terminal, so this sets the COMP_* variables as bash
// would for the line and calls the function `complete -p vm` names; COMPREPLY is the answer.
const BASH_DRIVER = `
source <(vm completions bash)
spec=$(complete -p vm) || { echo "no completion registered for vm" >&2; exit 3; }
fn=\${spec##*-F }
fn=\${fn%% *}
for line in "$@"; do
    COMP_LINE=$line
    COMP_POINT=\${#line}
    read -ra COMP_WORDS <<< "$line"
    [[ $line == *" " ]] && COMP_WORDS+=("")
    COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
    COMP_TYPE=9
    COMP_KEY=9
    COMPREPLY=()
    "$fn" vm "\${COMP_WORDS[COMP_CWORD]}" "\${COMP_WORDS[COMP_CWORD - 1]}"
    printf '### %s\\n' "$line"
    printf '%s\\n' "\${COMPREPLY[@]}"
done
`;

// zsh completes only inside its line editor, so the driver runs an interactive zsh on a
// pseudo-terminal (zsh/zpty), loads compinit and the script there, types each line followed by a
// TAB bound to complete-word, and records every match the completion adds: compadd is wrapped to
// ask the builtin which candidates match (-O) before adding them as usual.
const ZSH_SETUP = `
PROMPT='> '
autoload -Uz compinit && compinit -u -D
source <(vm completions zsh)
compadd() {
    if (( \${argv[(I)-[OAD]]} )); then builtin compadd "$@"; return; fi
    local -a vm_matches
    builtin compadd -O vm_matches "$@"
    (( $#vm_matches )) && print -rl -- "\${vm_matches[@]}" >> "$VM_CAPTURE"
    builtin compadd "$@"
}
vm_completion_done() { print -r -- VM_COMPLETION_DONE; }
bindkey '^I' complete-word
print -r -- VM_SETUP_READY
`;

const ZSH_DRIVER = `
zmodload zsh/zpty || exit 3
setup=$1
shift
integer n=0
for line in "$@"; do
    (( n++ ))
    export VM_CAPTURE=$PWD/../zsh-capture-$n
    : > "$VM_CAPTURE"
    zpty vmshell zsh -f -i
    zpty -w vmshell "source \${(q)setup}; comppostfuncs=(vm_completion_done)"
    if ! zpty -r vmshell out '*VM_SETUP_READY*'; then
        print -r -- "zsh did not get ready: $out" >&2
        exit 4
    fi
    zpty -w -n vmshell "$line"$'\\t'
    if ! zpty -r vmshell out '*VM_COMPLETION_DONE*'; then
        print -r -- "completing '$line' did not finish: $out" >&2
        exit 4
    fi
    zpty -d vmshell
    print -r -- "### $line"
    cat -- "$VM_CAPTURE"
done
`;

// fish answers `complete -C LINE` with the candidates it would offer, one "value<TAB>description"
// a line.
const FISH_DRIVER = `
vm completions fish | source
or exit 3
for line in $argv
    echo "### $line"
    complete -C "$line"
end
`;

Deno.test({
  name: "bash: the completion script completes commands, subcommands and options",
  ignore: !bash,
  async fn() {
    await withVmOnPath(async (sandbox) => {
      const driver = await sandbox.write("drive.bash", BASH_DRIVER);
      const result = await sandbox.run(bash!, ["--norc", "--noprofile", driver, ...LINES]);
      assertOffers("bash", result);
      assertNoErrors("bash", result);
    });
  },
});

Deno.test({
  name: "bash with bash-completion loaded: the completion script completes the same",
  ignore: !bash || !bashCompletion,
  async fn() {
    await withVmOnPath(async (sandbox) => {
      const driver = await sandbox.write(
        "drive.bash",
        `source ${shQuote(BASH_COMPLETION)}\n${BASH_DRIVER}`,
      );
      const result = await sandbox.run(bash!, ["--norc", "--noprofile", driver, ...LINES]);
      assertOffers("bash + bash-completion", result);
      assertNoErrors("bash + bash-completion", result);
    });
  },
});

Deno.test({
  name: "zsh: the completion script completes commands, subcommands and options",
  ignore: !zsh,
  async fn() {
    await withVmOnPath(async (sandbox) => {
      const setup = await sandbox.write("setup.zsh", ZSH_SETUP);
      const driver = await sandbox.write("drive.zsh", ZSH_DRIVER);
      const result = await sandbox.run(zsh!, ["-f", driver, setup, ...LINES]);
      assertOffers("zsh", result);
    });
  },
});

Deno.test({
  name: "fish: the completion script completes commands, subcommands and options",
  ignore: !fish,
  async fn() {
    await withVmOnPath(async (sandbox) => {
      const driver = await sandbox.write("drive.fish", FISH_DRIVER);
      const result = await sandbox.run(fish!, ["--no-config", driver, ...LINES]);
      assertOffers("fish", result);
      assertNoErrors("fish", result);
    });
  },
});

interface ShellRun {
  code: number;
  stdout: string;
  stderr: string;
}

interface Sandbox {
  write(name: string, text: string): Promise<string>;
  run(shell: string, args: string[]): Promise<ShellRun>;
}

/**
 * A temp dir with `vm` on PATH (a wrapper that runs main.ts from source) and an empty working
 * directory, so a shell that falls back to completing file names finds nothing to offer.
 */
async function withVmOnPath(fn: (sandbox: Sandbox) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vm-completions-" });
  try {
    const bin = join(dir, "bin");
    const cwd = join(dir, "cwd");
    await Deno.mkdir(bin);
    await Deno.mkdir(cwd);
    const wrapper = join(bin, "vm");
    // `vm` as it runs itself: the same entry point, config and permissions.
    const { command, args } = selfCommand([]);
    await Deno.writeTextFile(
      wrapper,
      `#!/bin/sh\nexec ${[command, ...args].map(shQuote).join(" ")} "$@"\n`,
    );
    await Deno.chmod(wrapper, 0o755);
    // The shells keep their config and history (fish makes the folders) in the sandbox. Deno's
    // cache dir (XDG_CACHE_HOME or ~/.cache) stays, so `vm` starts without downloading.
    const env = {
      PATH: `${bin}:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
      XDG_CONFIG_HOME: join(dir, "config"),
      XDG_DATA_HOME: join(dir, "data"),
    };
    await fn({
      async write(name, text) {
        const path = join(dir, name);
        await Deno.writeTextFile(path, text);
        return path;
      },
      run: (shell, args) => runShell(shell, args, cwd, env),
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function runShell(
  shell: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<ShellRun> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const output = await new Deno.Command(shell, {
      args,
      cwd,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
    const decoder = new TextDecoder();
    const run = {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
    if (controller.signal.aborted) {
      throw new Error(`${shell} did not finish within ${TIMEOUT_MS} ms\n${describe(run)}`);
    }
    return run;
  } finally {
    clearTimeout(timer);
  }
}

/** The checks every shell must pass, on the driver's "### LINE" + one-candidate-a-line output. */
function assertOffers(shell: string, run: ShellRun): void {
  assert.equal(run.code, 0, `${shell} driver failed\n${describe(run)}`);
  const offers = parseOffers(run.stdout);
  const offered = (line: string): string[] => {
    const candidates = offers.get(line);
    assert.ok(
      candidates,
      `${shell} printed no answer for ${JSON.stringify(line)}\n${describe(run)}`,
    );
    return candidates;
  };
  const expect = (line: string, wanted: string[], unwanted: string[] = []) => {
    const candidates = offered(line);
    for (const word of wanted) {
      assert.ok(
        candidates.includes(word),
        `${shell}: ${JSON.stringify(line)} offered [${candidates.join(" ")}], not ${word}`,
      );
    }
    for (const word of unwanted) {
      assert.ok(
        !candidates.includes(word),
        `${shell}: ${JSON.stringify(line)} offered ${word}: [${candidates.join(" ")}]`,
      );
    }
  };
  // The hidden `complete` command is the script's own back door, not for users.
  expect("vm ", ["pkg", "completions"], ["complete"]);
  // Completing at the second word, not again at the first.
  expect("vm pkg ", ["start", "stop", "status"], ["pkg", "completions"]);
  expect("vm pkg start --", ["--port", "--foreground"]);
  const options = offered("vm pkg start --");
  assert.ok(
    options.every((option) => option.startsWith("--")),
    `${shell}: "vm pkg start --" offered more than options: [${options.join(" ")}]`,
  );
  // The shell narrows to what was typed.
  assert.deepEqual(offered("vm pkg st").toSorted(), ["start", "status", "stop"], shell);
}

/**
 * Nothing on stderr but bash's note that compopt, called by the script, works only while bash
 * itself runs a completion (here the driver calls the function).
 */
function assertNoErrors(shell: string, run: ShellRun): void {
  const errors = run.stderr.split("\n")
    .filter((line) => line.trim() && !line.includes("compopt: not currently executing"));
  assert.deepEqual(errors, [], `${shell} reported errors\n${describe(run)}`);
}

function parseOffers(stdout: string): Map<string, string[]> {
  const offers = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of stdout.split("\n")) {
    if (line.startsWith("### ")) {
      current = [];
      offers.set(line.slice(4), current);
    } else if (current && line.trim()) {
      current.push(line.split("\t")[0].trim());
    }
  }
  return offers;
}

function describe(run: ShellRun): string {
  return `exit code ${run.code}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`;
}

function onPath(name: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && exists(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function shQuote(text: string): string {
  return `'${text.replaceAll("'", `'"'"'`)}'`;
}
