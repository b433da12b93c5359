import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';

/**
 * A child Node process running a TypeScript file through the same loader the
 * test runner uses, with line-oriented access to its stdout. stderr is kept
 * for the failure message.
 */
export class TsChild {
  readonly proc: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];

  constructor(script: string, args: readonly string[], onLine?: (line: string) => void) {
    this.proc = spawn(process.execPath, [...process.execArgv, script, ...args], {
      env: { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-20_000);
    });
    readline.createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      this.lines.push(line);
      onLine?.(line);
      for (const w of [...this.waiters]) {
        const m = w.re.exec(line);
        if (m) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    });
  }

  /** The first line (already seen or still to come) matching `re`. */
  waitForLine(re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
    for (const line of this.lines) {
      const m = re.exec(line);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${timeoutMs} ms; stderr:\n${this.stderr}`)), timeoutMs);
      this.waiters.push({
        re,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  send(line: string): void {
    this.proc.stdin!.write(line + '\n');
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    await this.exited;
  }
}
