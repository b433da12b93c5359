import path from 'node:path';
import t from 'tap';
import { packageRoot } from '../../agent/package-root.js';
import { commonJsLoadedBy, filesOfPackage } from '../helpers/loaded-packages.js';

const dist = (module: string) => JSON.stringify(path.join(packageRoot(), 'dist', module));

/**
 * What is loaded once `body` ran with the daemon's entry module imported.
 * The process runs the built JavaScript (npm test builds it first) without
 * the test runner's own loaders, which load some of the same packages.
 */
function loadedAfter(body: string): Promise<string[]> {
  return commonJsLoadedBy(`
    await import(${dist('agent/daemon/run.js')});
    const facts = await import(${dist('agent/discovery/host-facts.js')});
    ${body}`);
}

t.test('the daemon loads no YAML parser, no process runner and no systeminformation index until it needs them', async (t) => {
  const loaded = await loadedAfter('await facts.collectHostFacts();');
  t.ok(filesOfPackage(loaded, 'pino').length > 0, 'the check sees packages the daemon does load');
  t.same(filesOfPackage(loaded, 'yaml'), [], 'yaml waits for a config file');
  // execa itself is an ES module; cross-spawn is the CommonJS part it always loads.
  t.same(filesOfPackage(loaded, 'cross-spawn'), [], 'execa waits for a vendor tool to run');
  const si = filesOfPackage(loaded, 'systeminformation').map((f) => path.basename(f));
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
  t.ok(filesOfPackage(loaded, 'yaml').length > 0, 'yaml loaded for the file');
  t.ok(filesOfPackage(loaded, 'cross-spawn').length > 0, 'execa loaded for the tool');
});

/** Starts and stops the telemetry service streaming to a port nobody listens on, with `flags` added. */
function telemetryBody(flags: Record<string, string>): string {
  return `
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const state = await mkdtemp(tmpdir() + '/footprint-');
    const { resolveConfig } = await import(${dist('agent/config/load.js')});
    const { TelemetryService } = await import(${dist('agent/daemon/telemetry-service.js')});
    const { DeviceRegistry } = await import(${dist('agent/daemon/device-registry.js')});
    const { HostRoot } = await import(${dist('agent/host/host-root.js')});
    const { silentLogger } = await import(${dist('agent/log.js')});
    const config = resolveConfig({ env: {}, flags: { 'state-dir': state, 'collector-url': 'ws://127.0.0.1:9/v1/telemetry', ...${JSON.stringify(flags)} } });
    const service = new TelemetryService(config, new HostRoot(state), new DeviceRegistry(), silentLogger);
    await service.start();
    await service.stop();`;
}

t.test('streaming telemetry loads prom-client only when /metrics is served', async (t) => {
  const streaming = await commonJsLoadedBy(telemetryBody({}));
  t.ok(filesOfPackage(streaming, 'ws').length > 0, 'the telemetry client did start');
  t.same(filesOfPackage(streaming, 'prom-client'), [], 'no prom-client without a metrics address');
  const served = await commonJsLoadedBy(telemetryBody({ 'metrics-listen': '127.0.0.1:0' }));
  t.ok(filesOfPackage(served, 'prom-client').length > 0, 'prom-client for a served /metrics');
});
