import t from 'tap';
import { editsBundle, parseRuncArgs } from '../../agent/runtime/runtime-args.js';
import { RUNC_ARGV_CASES } from '../helpers/runc-argv-cases.js';

t.test('command, bundle and edit decision for every known runc command line shape', async (t) => {
  for (const c of RUNC_ARGV_CASES) {
    const args = parseRuncArgs(c.argv);
    t.same(
      { command: args.command, bundle: args.bundle, edits: editsBundle(args) },
      { command: c.command, bundle: c.bundle, edits: c.edits },
      c.argv.join(' ') || '(no arguments)',
    );
  }
});

t.test('the log file and its format are read', async (t) => {
  const args = parseRuncArgs([
    '--root', '/run/r', '--log=/run/l.json', '--log-format=json', 'create', '-b', '/b', '--no-pivot', 'ctr-1',
  ]);
  t.equal(args.log, '/run/l.json');
  t.equal(args.logFormat, 'json');
  t.equal(args.preserveFds, 0);
  t.equal(parseRuncArgs(['run', '--preserve-fds', '2', 'c']).preserveFds, 2, 'descriptors runc hands on are counted');
  t.equal(parseRuncArgs(['run', '--preserve-fds=x', 'c']).preserveFds, 0);
  t.equal(parseRuncArgs(['--log-format', 'yaml', 'run', 'c']).logFormat, 'text', 'unknown formats fall back to text');
});

t.test('a value flag with no value is a problem runc must report, so nothing is edited', async (t) => {
  const args = parseRuncArgs(['run', '--console-socket']);
  t.match(args.problem, /console-socket needs a value/);
  t.equal(editsBundle(args), false);
});

t.test('the argv is only read, never changed', async (t) => {
  const argv = Object.freeze(['--root', '/r', 'create', '--bundle', '/b', 'c']);
  parseRuncArgs(argv);
  t.same(argv, ['--root', '/r', 'create', '--bundle', '/b', 'c']);
});
