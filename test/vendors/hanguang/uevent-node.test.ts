import t from 'tap';
import { ueventNode } from '../../../agent/vendors/hanguang/uevent-node.js';

t.test('DEVNAME with MAJOR and MINOR names a node under /dev', async (t) => {
  t.same(ueventNode({ MAJOR: '240', MINOR: '0', DEVNAME: 'hgnpu0' }, null), { node: { path: '/dev/hgnpu0', major: 240, minor: 0 } });
  t.same(ueventNode({ DEVNAME: 'infiniband/uverbs0' }, null), { node: { path: '/dev/infiniband/uverbs0', major: null, minor: null } });
});

t.test('no DEVNAME is no node', async (t) => {
  t.equal(ueventNode({ DRIVER: 'hgnpu', PCI_ID: '1DED:8000' }, null), null);
});

t.test('a pattern filters the names a driver registers', async (t) => {
  t.equal(ueventNode({ DEVNAME: 'hgnpu_mgmt' }, /^hgnpu\d+$/), null);
  t.ok(ueventNode({ DEVNAME: 'hgnpu3' }, /^hgnpu\d+$/));
});

t.test('names that could leave /dev and malformed numbers are rejected', async (t) => {
  for (const name of ['../etc/shadow', 'a/../../etc', '/etc/shadow', 'a//b', '', 'x\ny', 'sp ace', '.', 'a/.']) {
    const r = ueventNode({ DEVNAME: name }, null);
    t.ok(r !== null && 'rejected' in r, JSON.stringify(name));
  }
  t.match(ueventNode({ DEVNAME: 'x', MAJOR: 'abc' }, null), { rejected: /MAJOR/ });
  t.match(ueventNode({ DEVNAME: 'x', MINOR: '-1' }, null), { rejected: /MINOR/ });
  t.match(ueventNode({ DEVNAME: '../x' }, /never/), { rejected: /not a safe/ }, 'rejected before the pattern, so it is always reported');
});
