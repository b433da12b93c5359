/**
 * runc command lines and what the wrapper must read from them. Shared by the
 * TypeScript parser's tests and the native launcher's tests, so both read a
 * command line the same way.
 */
export interface RuncArgvCase {
  argv: string[];
  command: string | null;
  bundle: string | null;
  edits: boolean;
}

export const RUNC_ARGV_CASES: RuncArgvCase[] = [
  { argv: ['create', 'c1'], command: 'create', bundle: null, edits: true },
  { argv: ['run', '--bundle', '/b', 'c1'], command: 'run', bundle: '/b', edits: true },
  { argv: ['create', '-b', '/b', 'c1'], command: 'create', bundle: '/b', edits: true },
  { argv: ['create', '--bundle=/b', 'c1'], command: 'create', bundle: '/b', edits: true },
  { argv: ['create', '-b=/b', 'c1'], command: 'create', bundle: '/b', edits: true },
  { argv: ['create', '-bundle', '/b', 'c1'], command: 'create', bundle: '/b', edits: true },
  { argv: ['create', 'c1', '--bundle', '/b'], command: 'create', bundle: '/b', edits: true },
  { argv: ['create', '-b', '/a', '-b', '/b', 'c1'], command: 'create', bundle: '/b', edits: true },
  {
    argv: ['--root', '/run/containerd/runc/k8s.io', '--log', '/run/x/log.json', '--log-format', 'json', 'create',
      '--bundle', '/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc', '--pid-file', '/run/x/init.pid', 'abc'],
    command: 'create',
    bundle: '/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc',
    edits: true,
  },
  { argv: ['--root=/r', '--systemd-cgroup', 'create', '--console-socket', '/s.sock', '-b', '/b', 'c'], command: 'create', bundle: '/b', edits: true },
  { argv: ['--debug', '--rootless', 'false', 'run', '-d', '--bundle', '/b', 'c'], command: 'run', bundle: '/b', edits: true },
  { argv: ['create', '--pid-file', '-b', 'c1'], command: 'create', bundle: null, edits: true },
  { argv: ['create', '--', '-b', '/b'], command: 'create', bundle: null, edits: true },
  { argv: ['--root', 'create', 'run', 'c1'], command: 'run', bundle: null, edits: true },
  { argv: ['start', 'c1'], command: 'start', bundle: null, edits: false },
  { argv: ['delete', '--force', 'c1'], command: 'delete', bundle: null, edits: false },
  { argv: ['exec', '--tty', 'c1', 'sh'], command: 'exec', bundle: null, edits: false },
  { argv: ['--root', '/r', 'kill', 'c1', 'KILL'], command: 'kill', bundle: null, edits: false },
  { argv: ['state', 'c1'], command: 'state', bundle: null, edits: false },
  { argv: ['spec'], command: 'spec', bundle: null, edits: false },
  { argv: ['--version'], command: null, bundle: null, edits: false },
  { argv: [], command: null, bundle: null, edits: false },
  { argv: ['create', '--help'], command: 'create', bundle: null, edits: false },
  { argv: ['-h', 'run', 'c'], command: 'run', bundle: null, edits: false },
  { argv: ['create', '--bundle'], command: 'create', bundle: null, edits: false },
  { argv: ['--log'], command: null, bundle: null, edits: false },
];
