import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { packageRoot } from '../../agent/package-root.js';

const execFileAsync = promisify(execFile);

const dist = (module: string) => JSON.stringify(path.join(packageRoot(), 'dist', module));

/**
 * The CommonJS files a fresh process has loaded after `body` ran with the
 * daemon's entry module imported. Packages imported from ES modules still
 * load their CommonJS parts through require, so its cache shows them. The
 * process runs the built JavaScript (npm test builds it first) without the
 * test runner's own loaders, which load some of the same packages.
 */
async function loadedAfter(body: string): Promise<string[]> {
  const script = `
    import { createRequire } from 'node:module';
    await import(${dist('agent/daemon/run.js')});
    const facts = await import(${dist('agent/discovery/host-facts.js')});
    ${body}
    console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;
  const { stdout } = await execFileAsync(process.execPath, ['--input-type=module', '-e', script], { cwd: packageRoot() });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as string[];
}

const inPackage = (loaded: string[], name: string) => loaded.filter((f) => f.includes(`${path.sep}node_modules${path.sep}${name}${path.sep}`));

t.test('the daemon loads no YAML parser, no process runner and no systeminformation index until it needs them', async (t) => {
  const loaded = await loadedAfter('await facts.collectHostFacts();');
  t.ok(inPackage(loaded, 'pino').length > 0, 'the check sees packages the daemon does load');
  t.same(inPackage(loaded, 'yaml'), [], 'yaml waits for a config file');
  // execa itself is an ES module; cross-spawn is the CommonJS part it always loads.
  t.same(inPackage(loaded, 'cross-spawn'), [], 'execa waits for a vendor tool to run');
  const si = inPackage(loaded, 'systeminformation').map((f) => path.basename(f));
  t.ok(si.includes('cpu.js') && si.includes('osinfo.js'), 'systeminformation answers the host facts');
  t.notOk(si.includes('index.js'), 'but through its modules, not its index that loads them all');
  t.notOk(si.includes('graphics.js'), 'graphics (which would run nvidia-smi) is never loaded');
});

t.test('the lazily loaded parts still load when used', async (t) => {
  const loaded = await loadedAfter(`
    const { resolveConfig } = await import(${dist('agent/config/load.js')});
    resolveConfig({ file: { name: 'agent.yaml', text: 'version: 1\\n' }, env: {}, flags: {} });
    const { runTool } = await import(${dist('agent/vendors/run-tool.js')});
    const outcome = await runTool('true', [], { timeoutMs: 10000 });
    if (outcome.kind !== 'exited') throw new Error('true did not run: ' + JSON.stringify(outcome));`);
  t.ok(inPackage(loaded, 'yaml').length > 0, 'yaml loaded for the file');
  t.ok(inPackage(loaded, 'cross-spawn').length > 0, 'execa loaded for the tool');
});
