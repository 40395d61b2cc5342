/**
 * ynl's command line against the real tool's: cli.py parses it with Python's argparse, so
 * test/cli/golden/ynl-argparse.json holds what argparse (Python 3.11, 80 columns) prints for
 * cli.py's options on each command line (scripts/ynl-argparse-golden.py rebuilds cli.py's
 * parser; with python3 present the golden is regenerated and must not have changed), and
 * replies are checked against Python's own pprint.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/main.js';
import { pformat } from '../../src/cli/ynl-args.js';
import { Emulator } from '../../src/emulator.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const GOLDEN = JSON.parse(readFileSync(ROOT + 'test/cli/golden/ynl-argparse.json', 'utf8')) as {
  python: string; cases: { argv: string[]; stdout: string; stderr: string; exit: number }[];
};
const python = spawnSync('python3', ['-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' });
const py311 = python.status === 0 && python.stdout.trim().startsWith('3.11');
if (!py311) console.log(`ynl argparse: the golden is not regenerated (${python.status === 0 ? `python3 is ${python.stdout.trim()}, the golden is 3.11's` : 'no python3'})`);

let emu: Emulator;
beforeAll(async () => { emu = await Emulator.create({ workers: 0 }); });
afterAll(async () => { await emu.close(); });

describe('ynl parses its command line as argparse does', () => {
  it.skipIf(!py311)('the golden is what argparse prints today for cli.py\'s options', () => {
    const now = execFileSync('python3', [ROOT + 'scripts/ynl-argparse-golden.py'], { encoding: 'utf8' });
    expect(JSON.parse(now)).toEqual(GOLDEN);
  });

  for (const c of GOLDEN.cases) {
    it(`ynl ${c.argv.join(' ')}`, async () => {
      const r = await runCommand(emu, ['ynl', ...c.argv]);
      if (c.exit !== 0 || c.stdout !== '') {
        // help, or a parse error: the same text, stream and exit code
        expect({ stdout: r.stdout, stderr: r.stderr, code: r.code }).toEqual({ stdout: c.stdout, stderr: c.stderr, code: c.exit });
      } else {
        // parsed: whatever the operation then does, it is no usage error
        expect(r.stderr.startsWith('usage:'), r.stderr).toBe(false);
      }
    });
  }
});

describe('ynl prints replies as pprint.pprint does', () => {
  it.skipIf(python.status !== 0)('the same text as Python for 300 random replies (dicts sorted, wrapped at 80 columns)', () => {
    let seed = 7;
    const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
    const KEYS = ['id', 'type', 'ifindex', 'napi-id', 'lease', 'queue', 'dmabuf', 'io-uring', 'xsk'];
    const gen = (d: number): unknown => {
      const k = rnd(d > 2 ? 3 : 5);
      if (k === 0) return rnd(100000);
      if (k === 1) return ['rx', 'tx', 'some-longer-string-value', "it's"][rnd(4)];
      if (k === 2) return rnd(2) === 0;
      if (k === 3) return Array.from({ length: rnd(6) }, () => gen(d + 1));
      return Object.fromEntries(Array.from({ length: rnd(7) }, () => [KEYS[rnd(KEYS.length)]!, gen(d + 1)]));
    };
    const values = Array.from({ length: 300 }, () => gen(0));
    const py = execFileSync('python3', ['-c', 'import json, sys, pprint\nfor v in json.load(sys.stdin):\n    pprint.pprint(v)\n    print("\\x00")'], { input: JSON.stringify(values), encoding: 'utf8' }).split('\x00\n');
    values.forEach((v, i) => expect(pformat(v) + '\n', JSON.stringify(v)).toBe(py[i]));
  });

  it('a queue-get reply too long for one line: keys sorted, one per line', async () => {
    const reply = { id: 3, type: 'rx', ifindex: 2, 'napi-id': 8193, lease: { ifindex: 3, queue: { id: 1, type: 'rx' } } };
    expect(pformat(reply)).toBe("{'id': 3,\n 'ifindex': 2,\n 'lease': {'ifindex': 3, 'queue': {'id': 1, 'type': 'rx'}},\n 'napi-id': 8193,\n 'type': 'rx'}");
  });
});
