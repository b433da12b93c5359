import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { parse } from 'yaml';
import { resolveConfig } from '../../agent/config/load.js';
import { packageRoot } from '../../agent/package-root.js';
import { DEPLOYED_ENV } from '../../bench/lib/deployed-env.js';
import {
  FORBIDDEN_MARK,
  INSTALL_SH,
  hasTomlReader,
  parseToml,
  releaseMembers,
  simulatedNode,
  snapshot,
  writeTarball,
  type RunResult,
} from '../helpers/install-root.js';

/** The shape `containerd config default` gives containerd 1.7 (format version 2), trimmed. */
const CONTAINERD_17 = `disabled_plugins = []
imports = []
oom_score = 0
root = "/var/lib/containerd"
state = "/run/containerd"
version = 2

[grpc]
  address = "/run/containerd/containerd.sock"
  max_recv_message_size = 16777216

[plugins]

  [plugins."io.containerd.gc.v1.scheduler"]
    deletion_threshold = 0
    pause_threshold = 0.02

  [plugins."io.containerd.grpc.v1.cri"]
    cdi_spec_dirs = ["/etc/cdi"]
    device_ownership_from_security_context = false
    enable_cdi = false # off by default in 1.7
    max_container_log_line_size = 16384
    sandbox_image = "registry.k8s.io/pause:3.8"

    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/opt/cni/bin"
      conf_dir = "/etc/cni/net.d"

    [plugins."io.containerd.grpc.v1.cri".containerd]
      default_runtime_name = "runc"
      snapshotter = "overlayfs"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes]

        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
          runtime_type = "io.containerd.runc.v2"

          [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
            SystemdCgroup = true

  [plugins."io.containerd.internal.v1.opt"]
    path = "/opt/containerd"
`;

/** containerd 2.x (format version 3): the CRI runtime settings moved to their own plugin. */
const CONTAINERD_20 = `version = 3
root = '/var/lib/containerd'
state = '/run/containerd'

[grpc]
  address = '/run/containerd/containerd.sock'

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'

    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = 'registry.k8s.io/pause:3.10'

  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = false
    cdi_spec_dirs = ['/opt/vendor/cdi']
    max_container_log_line_size = 16384

    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
`;

const CONFIG = 'etc/containerd/config.toml';
const toml = hasTomlReader();
const noToml = toml ? false : 'python3 with tomllib is not installed; TOML semantics not checked';

type Table = Record<string, unknown>;
const table = (doc: Table, ...keys: string[]): Table => keys.reduce<Table>((cur, k) => cur[k] as Table, doc);

function ok(t: Test, r: RunResult, what: string): void {
  t.equal(r.code, 0, `${what}: exit 0${r.code === 0 ? '' : `\n${r.stderr}`}`);
  t.notMatch(r.stderr, FORBIDDEN_MARK, `${what}: nothing touched the running system`);
}

function failed(t: Test, r: RunResult, message: RegExp, code = 1): void {
  t.equal(r.code, code, `exit ${code}`);
  t.match(r.stderr, message);
}

t.test('containerd 1.7 config: CDI turned on in the CRI plugin, every other setting kept', async (t) => {
  const node = await simulatedNode(t, { [CONFIG]: CONTAINERD_17 });
  ok(t, node.run([]), 'install');
  const text = readFileSync(path.join(node.root, CONFIG), 'utf8');
  t.match(text, /^ {4}enable_cdi = true$/m, 'value replaced in place, indentation kept');
  t.match(text, /^ {4}cdi_spec_dirs = \["\/etc\/cdi", "\/var\/run\/cdi"\]$/m, 'the runtime dir added to the existing list');
  t.equal(readFileSync(path.join(node.root, CONFIG + '.accel-agent.orig'), 'utf8'), CONTAINERD_17, 'the original is saved once');
  t.equal(text.split('\n').length, CONTAINERD_17.split('\n').length, 'no line added or lost');

  t.test('semantically', { skip: noToml }, async (t) => {
    const before = parseToml(CONTAINERD_17);
    const after = parseToml(text);
    const cri = table(after, 'plugins', 'io.containerd.grpc.v1.cri');
    t.equal(cri['enable_cdi'], true);
    t.same(cri['cdi_spec_dirs'], ['/etc/cdi', '/var/run/cdi']);
    Object.assign(table(before, 'plugins', 'io.containerd.grpc.v1.cri'), { enable_cdi: true, cdi_spec_dirs: ['/etc/cdi', '/var/run/cdi'] });
    t.same(after, before, 'nothing else changed');
  });
});

t.test('containerd 2.x config: CDI set in the cri.v1.runtime plugin, operator dirs kept first', async (t) => {
  const node = await simulatedNode(t, { [CONFIG]: CONTAINERD_20 });
  ok(t, node.run([]), 'install');
  const text = readFileSync(path.join(node.root, CONFIG), 'utf8');
  t.match(text, /^ {4}cdi_spec_dirs = \['\/opt\/vendor\/cdi', '\/etc\/cdi', '\/var\/run\/cdi'\]$/m, "the file's quote style is kept");
  t.match(text, /max_container_log_line_size = 16384\n {4}enable_cdi = true\n\n {4}\[plugins\.'io\.containerd\.cri\.v1\.runtime'\.containerd\]/, 'added after the last key of the table');

  t.test('semantically', { skip: noToml }, async (t) => {
    const before = parseToml(CONTAINERD_20);
    const after = parseToml(text);
    Object.assign(table(before, 'plugins', 'io.containerd.cri.v1.runtime'), {
      enable_cdi: true,
      cdi_spec_dirs: ['/opt/vendor/cdi', '/etc/cdi', '/var/run/cdi'],
    });
    t.same(after, before);
    t.notOk('io.containerd.grpc.v1.cri' in table(after, 'plugins'), 'the 1.x plugin name is not used with format 3');
  });
});

t.test('a config without the CRI table gets one appended', async (t) => {
  const original = 'version = 2\n\n[grpc]\n  address = "/run/containerd/containerd.sock"';
  const node = await simulatedNode(t, { [CONFIG]: original });
  ok(t, node.run([]), 'install');
  const text = readFileSync(path.join(node.root, CONFIG), 'utf8');
  t.equal(
    text,
    original + '\n\n[plugins."io.containerd.grpc.v1.cri"]\n  enable_cdi = true\n  cdi_spec_dirs = ["/etc/cdi", "/var/run/cdi"]\n',
  );
  if (toml) t.equal(table(parseToml(text), 'plugins', 'io.containerd.grpc.v1.cri')['enable_cdi'], true);
});

t.test('a second run changes nothing, byte for byte, and says so', async (t) => {
  const node = await simulatedNode(t, { [CONFIG]: CONTAINERD_17 });
  const tarball = path.join(node.outside, 'agent.tar.gz');
  writeTarball(tarball, releaseMembers('1.0.0'));
  const args = ['--tarball', tarball, '--systemd', '--image', 'registry.example.com/accel-agent:1.0.0'];
  ok(t, node.run(args), 'first run');
  const first = snapshot(node.root);
  const again = node.run(args);
  ok(t, again, 'second run');
  t.same(snapshot(node.root), first, 'identical tree');
  t.notMatch(again.stdout, /\b(wrote|created|saved|installed|switched|chmod)\b/, 'nothing reported as changed');
  t.match(again.stdout, /unchanged: \/etc\/containerd\/config\.toml/);
});

t.test('the files a run leaves: config, host directories, tmpfiles entry', async (t) => {
  const node = await simulatedNode(t, { [CONFIG]: CONTAINERD_17 });
  ok(t, node.run([]), 'install');
  const s = snapshot(node.root);
  for (const [dir, mode] of [
    ['var/lib/accel-agent', 0o700],
    ['etc/cdi', 0o755],
    ['etc/kubernetes/node-feature-discovery/features.d', 0o755],
  ] as const) {
    t.same(s[dir], { type: 'dir', mode }, dir);
  }
  const config = s['etc/accel-agent/config.yaml'];
  t.equal(config?.type, 'file');
  const agentConfig = resolveConfig({ file: { name: 'config.yaml', text: (config as { content: string }).content } });
  t.equal(agentConfig.hostRoot, '/', 'a valid agent config for a process running on the host');
  const tmpfiles = (s['etc/tmpfiles.d/accel-agent.conf'] as { content: string }).content;
  t.match(tmpfiles, /^d \/run\/cdi 0755 root root -$/m);
  t.match(tmpfiles, /^d \/run\/accel-agent 0750 root root -$/m);
  t.notOk(existsSync(path.join(node.root, 'run')), '/run is a tmpfs: nothing is written there');
});

t.test('an existing agent config is kept; --config replaces it; a non-config is refused', async (t) => {
  const mine = 'version: 1\nlogLevel: debug\n';
  const node = await simulatedNode(t, { [CONFIG]: CONTAINERD_17, 'etc/accel-agent/config.yaml': mine });
  const r = node.run([]);
  ok(t, r, 'install');
  t.match(r.stdout, /kept: \/etc\/accel-agent\/config\.yaml/);
  t.equal(readFileSync(path.join(node.root, 'etc/accel-agent/config.yaml'), 'utf8'), mine);

  const given = path.join(node.outside, 'config.yaml');
  writeFileSync(given, 'version: 1\nlogLevel: warn\nrescanInterval: 1m\n');
  ok(t, node.run(['--config', given]), 'install with --config');
  t.equal(readFileSync(path.join(node.root, 'etc/accel-agent/config.yaml'), 'utf8'), readFileSync(given, 'utf8'));

  const wrong = path.join(node.outside, 'wrong.yaml');
  writeFileSync(wrong, 'logLevel: warn\n');
  failed(t, node.run(['--config', wrong]), /not an accel-agent config/);
  t.equal(readFileSync(path.join(node.root, 'etc/accel-agent/config.yaml'), 'utf8'), readFileSync(given, 'utf8'), 'kept the previous one');
});

t.test('a dry run changes nothing and says what it would do', async (t) => {
  const node = await simulatedNode(t, { [CONFIG]: CONTAINERD_17 });
  const tarball = path.join(node.outside, 'agent.tar.gz');
  writeTarball(tarball, releaseMembers('1.0.0'));
  const before = snapshot(node.root);
  const r = node.run(['--dry-run', '--tarball', tarball, '--systemd']);
  ok(t, r, 'dry run');
  t.same(snapshot(node.root), before);
  for (const line of ['would write: /etc/containerd/config.toml', 'would save: /etc/containerd/config.toml.accel-agent.orig', 'would create: /var/lib/accel-agent/', 'would install: /opt/accel-agent/releases/', 'would write: /etc/systemd/system/accel-agent.service']) {
    t.ok(r.stdout.includes(line), line);
  }
});

t.test('--cdi no registers accel-runtime as a runtime handler, matching the RuntimeClass', async (t) => {
  const node = await simulatedNode(t, { [CONFIG]: CONTAINERD_17 });
  const r = node.run(['--cdi', 'no']);
  ok(t, r, 'install');
  t.match(r.stdout, /warning: \/usr\/local\/bin\/accel-runtime does not exist yet/);
  const text = readFileSync(path.join(node.root, CONFIG), 'utf8');
  t.match(text, /enable_cdi = false/, 'CDI settings left as they were');
  const runtimeClass = parse(readFileSync(path.join(packageRoot(), 'deploy/runtimeclass.yaml'), 'utf8')) as { handler: string };
  t.match(text, `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${runtimeClass.handler}]`);
  if (toml) {
    const handler = table(parseToml(text), 'plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'runtimes', runtimeClass.handler);
    t.same(handler, { runtime_type: 'io.containerd.runc.v2', options: { BinaryName: '/usr/local/bin/accel-runtime' } });
    t.same(table(parseToml(text), 'plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'runtimes', 'runc', 'options'), { SystemdCgroup: true }, 'runc untouched');
  }
  const first = snapshot(node.root);
  ok(t, node.run(['--cdi', 'no']), 'second run');
  t.same(snapshot(node.root), first, 'idempotent');
});

t.test('with a release that has accel-runtime, the handler points at its wrapper and nothing warns', async (t) => {
  const node = await simulatedNode(t, { [CONFIG]: CONTAINERD_17 });
  const tarball = path.join(node.outside, 'agent.tar.gz');
  writeTarball(tarball, [...releaseMembers('1.0.0'), { name: 'bin/accel-runtime.js', mode: 0o755, content: '// runtime\n' }]);
  const r = node.run(['--tarball', tarball, '--cdi', 'no']);
  ok(t, r, 'install');
  t.notMatch(r.stdout, /warning/);
  t.equal(readFileSync(path.join(node.root, 'usr/local/bin/accel-runtime'), 'utf8'), '#!/bin/sh\nexec /usr/bin/node /opt/accel-agent/current/bin/accel-runtime.js "$@"\n');
  t.match(readFileSync(path.join(node.root, CONFIG), 'utf8'), /BinaryName = "\/usr\/local\/bin\/accel-runtime"/);
});

t.test('a handler pointing elsewhere is corrected, not duplicated', async (t) => {
  const original = `version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.accel-runtime]\n  runtime_type = 'io.containerd.runc.v2'\n  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.accel-runtime.options]\n    BinaryName = '/old/accel-runtime'\n`;
  const node = await simulatedNode(t, { [CONFIG]: original, 'usr/local/bin/accel-runtime': '#!/bin/sh\n' });
  const r = node.run(['--cdi', 'no']);
  ok(t, r, 'install');
  t.notMatch(r.stdout, /warning/, 'the runtime binary exists under the root');
  const text = readFileSync(path.join(node.root, CONFIG), 'utf8');
  t.match(text, /^ {4}BinaryName = "\/usr\/local\/bin\/accel-runtime"$/m);
  t.match(text, /^ {2}runtime_type = 'io\.containerd\.runc\.v2'$/m, 'an equal value in the other quote style is rewritten only when it differs');
  if (toml) parseToml(text);
});

t.test("containerd's version decides between CDI and the runtime handler", async (t) => {
  const node = await simulatedNode(t, { [CONFIG]: CONTAINERD_17 });
  const r = node.run(['--containerd-version', '1.6.20']);
  ok(t, r, 'auto with 1.6');
  t.match(r.stdout, /runtime handler accel-runtime/);
  t.match(readFileSync(path.join(node.root, CONFIG), 'utf8'), /enable_cdi = false/);

  const yes = await simulatedNode(t, { [CONFIG]: CONTAINERD_17 });
  failed(t, yes.run(['--containerd-version', '1.6', '--cdi', 'yes']), /containerd 1\.6 cannot apply CDI specs/);
  t.equal(readFileSync(path.join(yes.root, CONFIG), 'utf8'), CONTAINERD_17, 'untouched');

  const v17 = await simulatedNode(t, { [CONFIG]: CONTAINERD_17 });
  t.match(v17.run(['--containerd-version', 'v1.7.13']).stdout, /CDI enabled/);
});

t.test('without a containerd config: 2.x needs none, 1.7 gets a minimal one, unknown is left alone', async (t) => {
  const v2 = await simulatedNode(t);
  const r2 = v2.run(['--containerd-version', '2.0']);
  ok(t, r2, '2.0');
  t.match(r2.stdout, /applies CDI specs by default/);
  t.notOk(existsSync(path.join(v2.root, CONFIG)));

  const v17 = await simulatedNode(t);
  ok(t, v17.run(['--containerd-version', '1.7']), '1.7');
  t.equal(readFileSync(path.join(v17.root, CONFIG), 'utf8'), 'version = 2\n\n[plugins."io.containerd.grpc.v1.cri"]\n  enable_cdi = true\n  cdi_spec_dirs = ["/etc/cdi", "/var/run/cdi"]\n');
  t.notOk(existsSync(path.join(v17.root, CONFIG + '.accel-agent.orig')), 'nothing to save');

  const unknown = await simulatedNode(t);
  const ru = unknown.run([]);
  ok(t, ru, 'unknown');
  t.match(ru.stdout, /skipped: no \/etc\/containerd\/config\.toml and containerd's version is unknown/);
  t.notOk(existsSync(path.join(unknown.root, 'etc/containerd')));
});

t.test('containerd configs the editor cannot safely change are refused and left as they were', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['multi-line cdi_spec_dirs', 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  cdi_spec_dirs = [\n    "/etc/cdi",\n  ]\n', /spans several lines/],
    ['table defined twice', 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  a = 1\n[plugins."io.containerd.grpc.v1.cri"]\n  b = 2\n', /defined twice/],
    ['dotted keys', 'version = 2\n[plugins]\n  "io.containerd.grpc.v1.cri".enable_cdi = false\n', /dotted keys or an inline table/],
    ['inline table', 'version = 2\n[plugins]\n  "io.containerd.grpc.v1.cri" = { enable_cdi = false }\n', /dotted keys or an inline table/],
  ];
  for (const [what, text, message] of cases) {
    const node = await simulatedNode(t, { [CONFIG]: text });
    const before = snapshot(node.root);
    failed(t, node.run([]), message);
    t.same(snapshot(node.root), before, `${what}: nothing changed, not even a directory`);
  }
});

t.test('other multi-line values and a CRI plugin named in disabled_plugins do not confuse the editor', async (t) => {
  const original = 'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n[plugins."io.containerd.grpc.v1.cri"]\n  extra = [\n    [1, 2],\n    ["x"],\n  ]\n  enable_cdi = false\n[plugins."io.containerd.grpc.v1.cri".containerd]\n  snapshotter = "overlayfs"\n';
  const node = await simulatedNode(t, { [CONFIG]: original });
  ok(t, node.run([]), 'install');
  const text = readFileSync(path.join(node.root, CONFIG), 'utf8');
  t.match(text, /  \["x"\],\n  \]\n  enable_cdi = true\n  cdi_spec_dirs = \["\/etc\/cdi", "\/var\/run\/cdi"\]\n\[plugins/);
  if (toml) t.same(table(parseToml(text), 'plugins', 'io.containerd.grpc.v1.cri', 'extra'), [[1, 2], ['x']]);
});

t.test('a link in the tree that leads out of --root stops the script before it writes through it', async (t) => {
  const node = await simulatedNode(t);
  const escape = path.join(node.outside, 'etc-containerd');
  mkdirSync(escape);
  writeFileSync(path.join(escape, 'config.toml'), CONTAINERD_17);
  mkdirSync(path.join(node.root, 'etc'));
  symlinkSync(escape, path.join(node.root, 'etc/containerd'));
  const outsideBefore = snapshot(node.outside);
  failed(t, node.run([]), /\/etc\/containerd\/config\.toml resolves to .* outside --root/);
  t.same(snapshot(node.outside), outsideBefore, 'the target of the link is untouched');

  const abs = await simulatedNode(t);
  mkdirSync(path.join(abs.root, 'var'));
  symlinkSync('/var/lib', path.join(abs.root, 'var/lib'));
  failed(t, abs.run(['--containerd-version', '2.0']), /\/var\/lib\/accel-agent resolves to \/var\/lib\/accel-agent, outside --root/);
});

t.test('a link that stays inside the root is followed, so the file it names is edited', async (t) => {
  const node = await simulatedNode(t, { 'etc/containerd/real.toml': CONTAINERD_17 });
  symlinkSync('real.toml', path.join(node.root, CONFIG));
  ok(t, node.run([]), 'install');
  t.ok(lstatSync(path.join(node.root, CONFIG)).isSymbolicLink(), 'the link stays a link');
  t.match(readFileSync(path.join(node.root, 'etc/containerd/real.toml'), 'utf8'), /enable_cdi = true/);
});

t.test('tarball install: release by digest, relative current link, wrappers, unit', async (t) => {
  const node = await simulatedNode(t, { [CONFIG]: CONTAINERD_17 });
  const tarball = path.join(node.outside, 'agent.tar.gz');
  writeTarball(tarball, releaseMembers('1.0.0'));
  const id = createHash('sha256').update(readFileSync(tarball)).digest('hex').slice(0, 16);
  const r = node.run(['--tarball', tarball, '--systemd', '--node', '/usr/local/node/bin/node']);
  ok(t, r, 'install');
  t.match(r.stdout, /skipped \(running system\): systemctl enable --now accel-agent\.service/);
  t.equal(readlinkSync(path.join(node.root, 'opt/accel-agent/current')), `releases/${id}`);
  const release = path.join(node.root, 'opt/accel-agent/releases', id);
  t.equal(readFileSync(path.join(release, 'bin/accel-agent.js'), 'utf8'), '#!/usr/bin/env node\n// 1.0.0\n');
  t.equal(readlinkSync(path.join(release, 'node_modules/.bin/accelctl')), '../../bin/accelctl.js', 'links inside the release kept');
  const wrapper = path.join(node.root, 'usr/local/bin/accelctl');
  t.equal(readFileSync(wrapper, 'utf8'), '#!/bin/sh\nexec /usr/local/node/bin/node /opt/accel-agent/current/bin/accelctl.js "$@"\n');
  t.equal(statSync(wrapper).mode & 0o777, 0o755);
  t.notOk(existsSync(path.join(node.root, 'usr/local/bin/accel-runtime')), 'no wrapper for an entry point the release lacks');
  const unit = readFileSync(path.join(node.root, 'etc/systemd/system/accel-agent.service'), 'utf8');
  t.match(unit, /^ExecStart=\/usr\/local\/node\/bin\/node \/opt\/accel-agent\/current\/bin\/accel-agent\.js run --config \/etc\/accel-agent\/config\.yaml$/m);
  t.match(unit, /^WantedBy=multi-user\.target$/m);
  for (const [name, value] of Object.entries(DEPLOYED_ENV)) t.match(unit, new RegExp(`^Environment=${name}=${value}$`, 'm'), 'the environment the benchmarks measure');
  t.same(readdirSync(path.join(node.root, 'opt/accel-agent/releases')), [id], 'no staging or download left behind');
});

t.test('upgrades switch current and keep one previous release for rollback', async (t) => {
  const node = await simulatedNode(t, { [CONFIG]: CONTAINERD_17 });
  const ids: string[] = [];
  for (const version of ['1.0.0', '1.1.0', '1.2.0']) {
    const tarball = path.join(node.outside, `agent-${version}.tar.gz`);
    writeTarball(tarball, releaseMembers(version));
    ids.push(createHash('sha256').update(readFileSync(tarball)).digest('hex').slice(0, 16));
    const r = node.run(['--tarball', tarball]);
    ok(t, r, version);
    t.match(r.stdout, new RegExp(`switched: /opt/accel-agent/current -> releases/${ids.at(-1)}`));
  }
  t.same(readdirSync(path.join(node.root, 'opt/accel-agent/releases')).sort(), ids.slice(1).sort());
  t.equal(readlinkSync(path.join(node.root, 'opt/accel-agent/current')), `releases/${ids[2]}`);
});

t.test('a checksum mismatch installs nothing', async (t) => {
  const node = await simulatedNode(t, { [CONFIG]: CONTAINERD_17 });
  const tarball = path.join(node.outside, 'agent.tar.gz');
  writeTarball(tarball, releaseMembers('1.0.0'));
  failed(t, node.run(['--tarball', tarball, '--sha256', 'a'.repeat(64)]), /checksum is [0-9a-f]{64}, expected a{64}/);
  t.notOk(existsSync(path.join(node.root, 'opt')));
  const digest = createHash('sha256').update(readFileSync(tarball)).digest('hex');
  ok(t, node.run(['--tarball', tarball, '--sha256', digest.toUpperCase()]), 'the right digest, in capitals');
});

t.test('hostile or wrong tarballs are refused and leave no release behind', async (t) => {
  const base = releaseMembers('1.0.0');
  const cases: Array<[string, Parameters<typeof writeTarball>[1] | 'garbage', RegExp]> = [
    ['parent member', [...base, { name: '../../escaped', content: 'x' }], /absolute or \.\. member names/],
    ['absolute member', [...base, { name: '/etc/escaped', content: 'x' }], /absolute or \.\. member names/],
    ['link out of the release', [...base, { name: 'lib', type: 'link', target: '/etc' }], /link lib points outside the release/],
    ['link climbing out', [...base, { name: 'bin/up', type: 'link', target: '../../../../x' }], /link bin\/up points outside the release/],
    ['device node', [...base, { name: 'dev-null', type: 'chardev' }], /special file \(c.*dev-null\)/],
    ['setuid binary', [...base, { name: 'bin/su', mode: 0o4755, content: 'x' }], /setuid or setgid file \(-rwsr-xr-x.*bin\/su\)/],
    ['not a release', [{ name: 'README', content: 'hello' }], /not an accel-agent release/],
    ['not a tarball', 'garbage', /not a gzip-compressed tar file/],
  ];
  for (const [what, members, message] of cases) {
    const node = await simulatedNode(t, { [CONFIG]: CONTAINERD_17 });
    const tarball = path.join(node.outside, 'agent.tar.gz');
    if (members === 'garbage') writeFileSync(tarball, 'not a tarball');
    else writeTarball(tarball, members);
    const outsideBefore = snapshot(node.outside);
    const r = node.run(['--tarball', tarball]);
    t.equal(r.code, 1, `${what}: refused`);
    t.match(r.stderr, message, what);
    t.notOk(existsSync(path.join(node.root, 'opt/accel-agent/current')), `${what}: no current release`);
    const releases = path.join(node.root, 'opt/accel-agent/releases');
    t.same(existsSync(releases) ? readdirSync(releases) : [], [], `${what}: no release directory, no staging left`);
    t.same(snapshot(node.outside), outsideBefore, `${what}: nothing beside the root changed`);
    t.notOk(existsSync(path.join(path.dirname(node.root), 'escaped')), `${what}: nothing escaped`);
  }
});

t.test('network and running-system steps are skipped off the real root', async (t) => {
  const node = await simulatedNode(t, { [CONFIG]: CONTAINERD_17 });
  const r = node.run(['--image', 'registry.example.com/accel-agent:1.0.0', '--tarball', 'https://downloads.example.com/agent.tar.gz']);
  ok(t, r, 'install');
  t.match(r.stdout, /skipped \(network; --root is not \/ or --dry-run\): pull registry\.example\.com\/accel-agent:1\.0\.0/);
  t.match(r.stdout, /skipped \(network; --root is not \/ or --dry-run\): download https:\/\/downloads\.example\.com\/agent\.tar\.gz/);
  t.match(r.stdout, /skipped \(running system\): restart containerd/);
  t.notOk(existsSync(path.join(node.root, 'opt')), 'no download directory was prepared');
});

t.test('bad usage exits 2 with a message', async (t) => {
  const node = await simulatedNode(t);
  failed(t, node.run(['--bogus']), /unknown option: --bogus/, 2);
  failed(t, node.run(['--cdi', 'maybe']), /--cdi must be auto, yes or no/, 2);
  failed(t, node.run(['--sha256', 'xyz']), /--sha256 must be 64 hex digits/, 2);
  failed(t, node.run(['--systemd']), /--systemd needs the agent files: pass --tarball/, 2);
  failed(t, node.run(['--containerd-config', 'relative.toml']), /paths on the node must be absolute/, 2);
  const relative = spawnSync('bash', [INSTALL_SH, '--root', 'relative/dir'], { encoding: 'utf8' });
  t.equal(relative.status, 2);
  t.match(relative.stderr, /--root must be an absolute path/);
  const help = spawnSync('bash', [INSTALL_SH, '--help'], { encoding: 'utf8' });
  t.equal(help.status, 0);
  t.match(help.stdout, /--root DIR/);
});

const unshare = spawnSync('unshare', ['--mount', '--propagation', 'private', 'true'], { encoding: 'utf8' });
const noUnshare = unshare.error || unshare.status !== 0 ? 'unshare --mount is not permitted here (needs root); the write-confinement check did not run' : false;

t.test('with everything but the root mounted read-only, a full install still succeeds', { skip: noUnshare }, async (t) => {
  const node = await simulatedNode(t, { [CONFIG]: CONTAINERD_17 });
  const tarball = path.join(node.outside, 'agent.tar.gz');
  writeTarball(tarball, releaseMembers('1.0.0'));
  // In a private mount namespace: the root stays writable as its own mount,
  // then every other mount turns read-only, so a single write elsewhere fails the run.
  const confine = [
    'set -e',
    'mount --bind "$1" "$1"',
    'for m in $(awk \'{print $5}\' /proc/self/mountinfo | sort -u); do [ "$m" = "$1" ] || mount -o remount,bind,ro "$m" 2>/dev/null || true; done',
    'if touch /tmp/.accel-install-probe 2>/dev/null; then rm -f /tmp/.accel-install-probe; echo "confinement failed" >&2; exit 90; fi',
    'shift',
    'exec "$@"',
  ].join('\n');
  const r = node.run(['--tarball', tarball, '--systemd', '--image', 'registry.example.com/a:1'], {
    prefix: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', confine, 'confine', node.root],
  });
  ok(t, r, 'confined install');
  t.match(r.stdout, /installed: \/opt\/accel-agent\/releases\//);
  t.match(r.stdout, /wrote: \/etc\/containerd\/config\.toml/);
  const dry = node.run(['--dry-run', '--tarball', tarball], {
    prefix: ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', confine, 'confine', node.root],
  });
  ok(t, dry, 'confined dry run');
});

const shellcheck = spawnSync('shellcheck', ['--version'], { encoding: 'utf8' });
const noShellcheck = shellcheck.error || shellcheck.status !== 0 ? 'shellcheck is not installed; lint not run' : false;

t.test('shellcheck finds nothing to warn about', { skip: noShellcheck }, async (t) => {
  const r = spawnSync('shellcheck', ['--severity=warning', INSTALL_SH], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stdout);
});
