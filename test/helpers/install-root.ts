/**
 * Fixtures for scripts/install.sh: simulated node roots, a PATH on which
 * every command that would reach the network or the running system fails
 * loudly, snapshots of a tree to compare runs byte for byte, and a TOML
 * reader (Python's tomllib) to check containerd configs semantically.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Test } from 'tap';
import { packageRoot } from '../../agent/package-root.js';
import { tempDir } from './temp-dir.js';

export const INSTALL_SH = path.join(packageRoot(), 'scripts/install.sh');

/** Commands install.sh may only run on a real node (--root /, no --dry-run). */
export const LIVE_ONLY_COMMANDS = ['systemctl', 'systemd-tmpfiles', 'ctr', 'crictl', 'curl', 'containerd'];
export const FORBIDDEN_MARK = 'FORBIDDEN-COMMAND';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A directory of stand-ins for LIVE_ONLY_COMMANDS that report themselves and fail. */
export function forbiddenBin(dir: string): string {
  const bin = path.join(dir, 'forbidden-bin');
  mkdirSync(bin, { recursive: true });
  for (const name of LIVE_ONLY_COMMANDS) {
    const file = path.join(bin, name);
    writeFileSync(file, `#!/bin/sh\necho "${FORBIDDEN_MARK} ${name} $*" >&2\nexit 97\n`);
    chmodSync(file, 0o755);
  }
  return bin;
}

/** Runs install.sh with the forbidden stand-ins first on PATH. */
export function runScript(argv: string[], bin: string, options: { prefix?: string[] } = {}): RunResult {
  const prefix = options.prefix ?? [];
  const [cmd, ...args] = [...prefix, 'bash', INSTALL_SH, ...argv];
  const out = spawnSync(cmd!, args, {
    encoding: 'utf8',
    timeout: 120_000,
    env: { PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}`, LANG: 'C' },
  });
  if (out.error) throw out.error;
  return { code: out.status, stdout: out.stdout, stderr: out.stderr };
}

export interface SimulatedNode {
  /** The --root directory. */
  root: string;
  /** A directory beside the root for inputs (tarballs, config files) and things that must stay untouched. */
  outside: string;
  bin: string;
  run(args: string[], options?: { prefix?: string[] }): RunResult;
}

export async function simulatedNode(t: Test, files: Record<string, string> = {}): Promise<SimulatedNode> {
  const base = await tempDir(t, 'accel-install-');
  const root = path.join(base, 'root');
  const outside = path.join(base, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  for (const [rel, text] of Object.entries(files)) {
    const file = path.join(root, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
  }
  const bin = forbiddenBin(base);
  return { root, outside, bin, run: (args, options) => runScript(['--root', root, ...args], bin, options) };
}

export type Entry = { type: 'dir'; mode: number } | { type: 'file'; mode: number; content: string } | { type: 'link'; target: string };

/** Every entry under dir with its type, mode and bytes (or link target). */
export function snapshot(dir: string): Record<string, Entry> {
  const out: Record<string, Entry> = {};
  const walk = (rel: string) => {
    const full = path.join(dir, rel);
    const st = lstatSync(full);
    if (st.isSymbolicLink()) out[rel] = { type: 'link', target: readlinkSync(full) };
    else if (st.isDirectory()) {
      if (rel !== '') out[rel] = { type: 'dir', mode: st.mode & 0o7777 };
      for (const name of readdirSync(full).sort()) walk(path.join(rel, name));
    } else out[rel] = { type: 'file', mode: st.mode & 0o7777, content: readFileSync(full, 'latin1') };
  };
  walk('');
  return out;
}

/** Python's tomllib, when a Python 3.11+ is installed. */
export function hasTomlReader(): boolean {
  const r = spawnSync('python3', ['-c', 'import tomllib'], { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

/** Parses TOML text strictly (duplicate keys and tables are errors) into plain data. */
export function parseToml(text: string): Record<string, unknown> {
  const r = spawnSync('python3', ['-c', 'import json, sys, tomllib; print(json.dumps(tomllib.loads(sys.stdin.read())))'], {
    input: text,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`not valid TOML: ${r.stderr.trim().split('\n').at(-1)}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** Writes a gzip tarball of the given members with Python's tarfile, so hostile members need no privileges. */
export function writeTarball(file: string, members: ReadonlyArray<TarMember>): void {
  const script = `
import io, json, sys, tarfile
members = json.load(sys.stdin)
with tarfile.open(sys.argv[1], 'w:gz', format=tarfile.GNU_FORMAT) as tar:
    for m in members:
        info = tarfile.TarInfo(m['name'])
        info.mode = m.get('mode', 0o644)
        info.mtime = 1700000000
        kind = m.get('type', 'file')
        data = m.get('content', '').encode()
        if kind == 'dir':
            info.type = tarfile.DIRTYPE
        elif kind == 'link':
            info.type = tarfile.SYMTYPE
            info.linkname = m['target']
        elif kind == 'chardev':
            info.type = tarfile.CHRTYPE
            info.devmajor, info.devminor = 1, 3
        else:
            info.size = len(data)
        tar.addfile(info, io.BytesIO(data) if kind == 'file' else None)
`;
  const r = spawnSync('python3', ['-c', script, file], { input: JSON.stringify(members), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot write tarball: ${r.stderr}`);
}

export interface TarMember {
  name: string;
  type?: 'file' | 'dir' | 'link' | 'chardev';
  mode?: number;
  content?: string;
  target?: string;
}

/** The smallest tree install.sh accepts as a release. */
export function releaseMembers(version: string): TarMember[] {
  return [
    { name: 'bin', type: 'dir', mode: 0o755 },
    { name: 'bin/accel-agent.js', mode: 0o755, content: `#!/usr/bin/env node\n// ${version}\n` },
    { name: 'bin/accelctl.js', mode: 0o755, content: `#!/usr/bin/env node\n// accelctl ${version}\n` },
    { name: 'package.json', content: `{"name":"accel-agent","version":"${version}"}\n` },
    { name: 'node_modules', type: 'dir', mode: 0o755 },
    { name: 'node_modules/.bin', type: 'dir', mode: 0o755 },
    { name: 'node_modules/.bin/accelctl', type: 'link', target: '../../bin/accelctl.js' },
  ];
}
