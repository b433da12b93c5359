import t from 'tap';
import { minimumCdiVersion } from '../../agent/inject/cdi-version.js';
import type { CdiDevice } from '../../agent/inject/container-edits.js';

const dev = (name: string, extra: Partial<CdiDevice> = {}): CdiDevice => ({ name, containerEdits: { deviceNodes: [{ path: '/dev/x' }] }, ...extra });
const spec = (devices: CdiDevice[], rest: Record<string, unknown> = {}) => ({ kind: 'example.com/dev', devices, ...rest });

t.test('plain device nodes and mounts need only 0.3.0', async (t) => {
  t.equal(minimumCdiVersion(spec([dev('gpu0')], { containerEdits: { env: ['A=1'], mounts: [{ hostPath: '/a', containerPath: '/a', options: ['ro'] }] } })), '0.3.0');
  t.equal(minimumCdiVersion(spec([])), '0.3.0');
});

t.test('a mount type needs 0.4.0', async (t) => {
  t.equal(minimumCdiVersion(spec([dev('gpu0', { containerEdits: { mounts: [{ hostPath: '/a', containerPath: '/a', type: 'bind' }] } })])), '0.4.0');
  t.equal(minimumCdiVersion(spec([dev('gpu0')], { containerEdits: { mounts: [{ hostPath: '/a', containerPath: '/a', type: '' }] } })), '0.3.0', 'an empty type is no type');
});

t.test('a name not starting with a letter, or a node hostPath, needs 0.5.0', async (t) => {
  t.equal(minimumCdiVersion(spec([dev('0')])), '0.5.0');
  t.equal(minimumCdiVersion(spec([dev('_x')])), '0.5.0');
  t.equal(minimumCdiVersion(spec([dev('a', { containerEdits: { deviceNodes: [{ path: '/dev/a', hostPath: '/sim/dev/a' }] } })])), '0.5.0');
  t.equal(minimumCdiVersion(spec([dev('a')], { containerEdits: { deviceNodes: [{ path: '/dev/c', hostPath: '/sim/dev/c' }] } })), '0.5.0', 'spec-level nodes count too');
});

t.test('annotations or a dotted class need 0.6.0; empty annotations do not', async (t) => {
  t.equal(minimumCdiVersion(spec([dev('a')], { annotations: { 'x.io/y': 'z' } })), '0.6.0');
  t.equal(minimumCdiVersion(spec([dev('a', { annotations: { 'x.io/y': 'z' } })])), '0.6.0');
  t.equal(minimumCdiVersion(spec([dev('a')], { annotations: {} })), '0.3.0');
  t.equal(minimumCdiVersion({ kind: 'example.com/dev.v2', devices: [dev('a')] }), '0.6.0');
  t.equal(minimumCdiVersion({ kind: 'example.com/dev', devices: [dev('0')] }), '0.5.0', 'dots in the vendor do not count');
});

t.test('additional GIDs need 0.7.0, wherever they are', async (t) => {
  t.equal(minimumCdiVersion(spec([dev('0')], { containerEdits: { additionalGids: [44] } })), '0.7.0');
  t.equal(minimumCdiVersion(spec([dev('a', { containerEdits: { additionalGids: [44] } })])), '0.7.0');
  t.equal(minimumCdiVersion(spec([dev('a', { containerEdits: { additionalGids: [] } })])), '0.3.0');
});
