/**
 * Per-container cost of accel-runtime. Two tables:
 *
 * 1. `run` (create + start + delete) of a busybox bundle through plain runc,
 *    through the Node wrapper, and through the native launcher, for a
 *    container that asks for no device and one that asks for a GPU.
 * 2. The wrapper's own cost, with runc replaced by /bin/true, so the figure
 *    is not lost in runc's variance on a busy machine.
 *
 * Runs are interleaved so drift in machine load hits every variant alike.
 * Bundles live on tmpfs (/dev/shm) when there is one, as containerd's and
 * CRI-O's do under /run; set ACCEL_BENCH_BUNDLE_DIR to measure elsewhere
 * (on a disk, the fsyncs of the atomic config.json rewrite cost a few ms).
 * Needs root (runc creates namespaces and device nodes).
 *
 *   TS_NODE_TRANSPILE_ONLY=1 node --import @tapjs/typescript/import bench/runtime-overhead.bench.ts [--runs N]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { packageRoot } from '../agent/package-root.js';
import { buildRootfs, makeBundle } from '../test/helpers/e2e-containers.js';
import { gpuSpec } from '../test/helpers/runtime-fixtures.js';
import { buildRuntime } from '../test/helpers/runtime-build.js';
import { cleanupOnInterrupt } from './lib/cleanup.js';
import { describeMachine, machineFacts } from './lib/machine.js';
import { benchMain } from './lib/main.js';
import { numberOptions } from './lib/options.js';
import { benchJsonLine, markdownTable } from './lib/report.js';
import { summarize, type Summary } from './lib/stats.js';

const WARMUP = 3;
const GPU = { 'cdi.k8s.io/bench': 'nvidia.com/gpu=0' };

interface Variant {
  name: string;
  program: string;
  env: NodeJS.ProcessEnv;
}

interface Row {
  container: string;
  variant: string;
  ms: Summary;
  /** Median over the first variant's median. */
  ratio: number;
}

/** The launcher built from source, or null (with the reason on stderr) when there is no C compiler. */
function buildLauncher(work: string): string | null {
  const r = spawnSync('bash', [path.join(packageRoot(), 'native-bindings/accel-runtime-launcher/build.sh'), work], { encoding: 'utf8' });
  if (r.status === 0) return path.join(work, 'accel-runtime');
  console.error(`runtime-overhead: launcher not built, measuring without it: ${r.stderr}`);
  return null;
}

/** Times `<program> --root <state> run --bundle <fresh bundle> <id>` for each variant, interleaved. */
function measure(runs: number, container: string, variants: Variant[], freshBundle: (id: string) => string, state: string): Row[] {
  const times = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  let n = 0;
  for (let i = 0; i < WARMUP + runs; i++) {
    for (const v of variants) {
      const id = `bench-${process.pid}-${++n}`;
      const bundle = freshBundle(id);
      const start = performance.now();
      const r = spawnSync(v.program, ['--root', state, 'run', '--bundle', bundle, id], { env: v.env, stdio: 'pipe' });
      const ms = performance.now() - start;
      if (r.status !== 0) throw new Error(`${v.name} failed (${r.status}): ${r.stderr.toString()}`);
      if (i >= WARMUP) times.get(v.name)!.push(ms);
      rmSync(bundle, { recursive: true, force: true });
    }
  }
  const base = summarize(times.get(variants[0]!.name)!).median;
  return variants.map((v) => {
    const ms = summarize(times.get(v.name)!);
    return { container, variant: v.name, ms, ratio: ms.median / base };
  });
}

function print(title: string, rows: Row[]): void {
  console.log(`\n${title}\n`);
  console.log(
    markdownTable(
      ['container', 'runtime', { title: 'median ms', align: 'right' }, { title: 'p90 ms', align: 'right' }, { title: 'ratio', align: 'right' }],
      rows.map((r) => [r.container, r.variant, r.ms.median.toFixed(1), r.ms.p90.toFixed(1), `${r.ratio.toFixed(2)}x`]),
    ),
  );
}

await benchMain('runtime-overhead', async (argv) => {
  const { runs } = numberOptions(argv, { runs: { default: 20, integer: true } });
  if (process.getuid?.() !== 0) throw new Error('needs root (runc creates namespaces and device nodes)');
  const base = process.env.ACCEL_BENCH_BUNDLE_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir());
  const work = mkdtempSync(path.join(base, 'accel-bench-runtime-'));
  const fsType = spawnSync('stat', ['-f', '-c', '%T', work], { encoding: 'utf8' }).stdout.trim();
  const runtime = buildRuntime();
  const cleanup = () => {
    runtime.remove();
    rmSync(work, { recursive: true, force: true });
  };
  const withdraw = cleanupOnInterrupt(cleanup);
  try {
    const libDir = path.join(work, 'host/usr/lib/x86_64-linux-gnu');
    mkdirSync(libDir, { recursive: true });
    writeFileSync(path.join(libDir, 'libcuda.so.1'), 'stand-in library\n');
    const cdiDir = path.join(work, 'cdi');
    mkdirSync(cdiDir);
    writeFileSync(path.join(cdiDir, 'nvidia.json'), JSON.stringify(gpuSpec(libDir)));
    const settings = path.join(work, 'settings.json');
    writeFileSync(settings, '{}');
    const state = path.join(work, 'state');
    const launcher = buildLauncher(work);
    const runc = spawnSync('sh', ['-c', 'command -v runc'], { encoding: 'utf8' }).stdout.trim();

    /** The three ways to start a container, all wrappers reading the same settings and cache. */
    const variants = (realRunc: string, cacheDir: string): Variant[] => {
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        ACCEL_RUNTIME_RUNC: realRunc,
        ACCEL_RUNTIME_CDI_DIRS: cdiDir,
        ACCEL_RUNTIME_CONFIG: settings,
        ACCEL_RUNTIME_LAUNCHER_CACHE: cacheDir,
        ACCEL_RUNTIME_NODE_WRAPPER: runtime.entry,
      };
      const list: Variant[] = [
        { name: path.basename(realRunc) === 'true' ? '/bin/true (no runtime)' : 'runc', program: realRunc, env },
        { name: 'accel-runtime (Node)', program: runtime.entry, env },
      ];
      if (launcher !== null) list.push({ name: 'accel-runtime (launcher)', program: launcher, env });
      return list;
    };

    const containers: Row[] = [];
    for (const [label, annotations] of [['no device', undefined], ['one GPU', GPU]] as const) {
      const fresh = (id: string) =>
        makeBundle(path.join(work, 'bundles', id), buildRootfs(path.join(work, 'bundles', id, 'rootfs')), {
          args: ['true'],
          ...(annotations ? { annotations } : {}),
        });
      containers.push(...measure(runs, label, variants(runc, path.join(work, 'cache-runc')), fresh, state));
    }

    // A config.json with no rootfs is enough when nothing starts a container.
    const template = makeBundle(path.join(work, 'template'), 'rootfs', { args: ['true'], annotations: GPU });
    const config = readFileSync(path.join(template, 'config.json'));
    const bare = (id: string) => {
      const dir = path.join(work, 'bundles', id);
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'config.json'), config);
      return dir;
    };
    const alone = measure(runs, 'one GPU', variants('/bin/true', path.join(work, 'cache-true')), bare, state);

    print(`runc run (create + start + delete) of a busybox bundle on ${fsType}; ${runs} runs each after ${WARMUP} warm-up runs`, containers);
    print('The wrapper alone: config.json edited, then /bin/true instead of runc', alone);
    const machine = machineFacts();
    console.log(`\nMeasured on ${describeMachine(machine)}.`);
    const figures = (rows: Row[]) => rows.map((r) => ({ container: r.container, runtime: r.variant, median: r.ms.median, p90: r.ms.p90, n: r.ms.n, ratio: r.ratio }));
    console.log(benchJsonLine('runtime-overhead', { machine, unit: 'ms', bundleFs: fsType, containers: figures(containers), wrapperAlone: figures(alone) }));
  } finally {
    withdraw();
    cleanup();
  }
});
