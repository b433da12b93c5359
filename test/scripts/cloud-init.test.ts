import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { parseDocument } from 'yaml';
import { resolveConfig } from '../../agent/config/load.js';
import { packageRoot, packageVersion } from '../../agent/package-root.js';
import { FORBIDDEN_MARK, INSTALL_SH, simulatedNode } from '../helpers/install-root.js';

const FILE = path.join(packageRoot(), 'scripts/cloud-init.yaml');
const TEXT = readFileSync(FILE, 'utf8');

interface CloudConfig {
  write_files: Array<{ path: string; owner: string; permissions: string; content: string }>;
  runcmd: string[][];
}

const doc = parseDocument(TEXT, { uniqueKeys: true });
const config = doc.toJS() as CloudConfig;
/** The single runcmd entry: sh -c SCRIPT $0 URL SHA256 install-options... */
const [shell, dashC, script, arg0, url, sha256, ...installArgs] = config.runcmd[0]!;

t.test('it is cloud-config user data that parses as YAML', async (t) => {
  t.ok(TEXT.startsWith('#cloud-config\n'), 'cloud-init only treats the file as cloud-config with this first line');
  t.same(doc.errors, []);
  t.same(Object.keys(config).sort(), ['runcmd', 'write_files']);
});

t.test('the written agent config is valid and world-readable', async (t) => {
  const file = config.write_files.find((f) => f.path === '/etc/accel-agent/config.yaml');
  t.ok(file);
  t.equal(file!.permissions, '0644');
  t.equal(file!.owner, 'root:root');
  const agent = resolveConfig({ file: { name: file!.path, text: file!.content } });
  t.equal(agent.nvidia.enabled, true);
  t.equal(agent.npu.enabled, true);
});

t.test('one runcmd entry downloads, verifies, then runs install.sh, stopping at the first failure', async (t) => {
  t.equal(config.runcmd.length, 1, 'cloud-init runs the next entry even when one fails');
  t.same([shell, dashC], ['sh', '-c']);
  t.match(script, /^set -eu$/m);
  const lines = script!.split('\n');
  const verify = lines.findIndex((l) => l.includes('sha256sum -c'));
  const run = lines.findIndex((l) => l.includes('install.sh "$@"'));
  t.ok(verify > 0 && run > verify, 'the checksum is checked before install.sh runs');
  t.match(url, /^https:\/\//, 'downloaded over TLS');
  t.match(sha256, /^[0-9a-f]{64}$/);
  t.equal(arg0, 'accel-agent-install');
  t.match(url, `/v${packageVersion()}/install.sh`, 'the release of this version');
  t.ok(installArgs.includes(`registry.example.com/accel-agent:${packageVersion()}`), 'the image of this version');
});

/** The runcmd script made to use a download path inside the test and a curl that copies a local file. */
async function runCloudInit(t: Test, checksum: string) {
  const node = await simulatedNode(t, {
    'etc/containerd/config.toml': 'version = 2\n',
    ...Object.fromEntries(config.write_files.map((f) => [f.path.slice(1), f.content])),
  });
  const download = path.join(node.outside, 'accel-agent-install.sh');
  const fakeCurl = path.join(node.outside, 'bin', 'curl');
  mkdirSync(path.dirname(fakeCurl));
  // Copies INSTALL_SH to the -o path: what a successful download would leave.
  writeFileSync(fakeCurl, `#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = -o ] && { cp ${JSON.stringify(INSTALL_SH)} "$2"; exit 0; }; shift; done\nexit 22\n`);
  chmodSync(fakeCurl, 0o755);
  const local = script!.replaceAll('/run/accel-agent-install.sh', download);
  const r = spawnSync('sh', ['-c', local, arg0!, url!, checksum, ...installArgs, '--root', node.root], {
    encoding: 'utf8',
    env: { PATH: `${path.dirname(fakeCurl)}:${node.bin}:${process.env['PATH']}` },
    timeout: 120_000,
  });
  return { node, r };
}

t.test('with the placeholder checksum nothing is installed', async (t) => {
  const { node, r } = await runCloudInit(t, sha256!);
  t.not(r.status, 0);
  t.match(r.stdout + r.stderr, /FAILED/);
  t.notOk(existsSync(path.join(node.root, 'var/lib/accel-agent')), 'install.sh never ran');
});

t.test("with the published checksum install.sh runs with the user data's options", async (t) => {
  const digest = createHash('sha256').update(readFileSync(INSTALL_SH)).digest('hex');
  const { node, r } = await runCloudInit(t, digest);
  t.equal(r.status, 0, r.stderr);
  t.notMatch(r.stderr, FORBIDDEN_MARK);
  t.match(r.stdout, /skipped \(network; --root is not \/ or --dry-run\): pull registry\.example\.com\/accel-agent:/);
  t.match(r.stdout, /kept: \/etc\/accel-agent\/config\.yaml/, "cloud-init's config is kept");
  t.match(readFileSync(path.join(node.root, 'etc/containerd/config.toml'), 'utf8'), /enable_cdi = true/);
});
