import t from 'tap';
import path from 'node:path';
import { execa } from 'execa';
import { NATIVE_DIR, requireNative } from './stub-fixture.js';

/** Each fake library, and the functions beyond the common one it must export. */
const LIBS: Record<string, string[]> = {
  'libcuda.so.1': ['cuInit', 'cuDriverGetVersion'],
  'libnvidia-ptxjitcompiler.so.1': [],
  'libnvidia-allocator.so.1': [],
  'libnvidia-cfg.so.1': [],
  'libnvidia-opencl.so.1': [],
  'libnvidia-nvvm.so.4': [],
  'libhgrt.so.1': ['hgrtGetVersion'],
};

async function readelf(args: string[]): Promise<string> {
  return (await execa('readelf', ['-W', ...args])).stdout;
}

/** Names of functions the object defines and exports. */
function exportedFunctions(dynsyms: string): Set<string> {
  const names = new Set<string>();
  for (const line of dynsyms.split('\n')) {
    const cols = line.trim().split(/\s+/);
    // Num: Value Size Type Bind Vis Ndx Name
    if (cols.length >= 8 && cols[3] === 'FUNC' && cols[4] === 'GLOBAL' && cols[5] === 'DEFAULT' && cols[6] !== 'UND') {
      names.add(cols[7]!.replace(/@.*$/, ''));
    }
  }
  return names;
}

const files = Object.keys(LIBS).map((soname) => `fake-libs/${soname}`);
if (requireNative(t, files)) {
  for (const [soname, functions] of Object.entries(LIBS)) {
    t.test(`${soname} is a shared object with its own soname and real exports`, async (t) => {
      const file = path.join(NATIVE_DIR, 'fake-libs', soname);
      t.match(await readelf(['-h', file]), /Type:\s+DYN/);
      t.match(await readelf(['-d', file]), new RegExp(`\\(SONAME\\)\\s+Library soname: \\[${soname.replace(/\./g, '\\.')}\\]`));
      const exported = exportedFunctions(await readelf(['--dyn-syms', file]));
      for (const fn of ['accelFakeDriverLibrary', ...functions]) t.ok(exported.has(fn), `exports ${fn}`);
      t.notOk(exported.has('stub_conf_value'), 'internal helpers stay hidden');
    });
  }
}
