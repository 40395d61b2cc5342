/**
 * Map operations straight on the host kernel's bpf(2), for the map types whose user-space
 * values are file descriptors bpftool cannot pass (a cgroup array's cgroup, a sockmap's
 * socket): python3's ctypes makes the calls, one process a list of maps. Needs root and
 * python3; `bpfSysUnavailable()` says what is missing.
 */
import { execFileSync } from 'node:child_process';
import { kernelUnavailableReason } from './kernel.js';

/**
 * A value an update passes: bytes, or an fd the runner opens — `cgroup` the cgroup v2
 * root's directory, `devnull` /dev/null (open, but neither a cgroup nor a socket),
 * `closed` an fd number nothing has open (1000).
 */
export type SysValue = number[] | { fd: 'cgroup' | 'devnull' | 'closed' };

export type SysOp =
  | { op: 'lookup' | 'delete' | 'lookupAndDelete'; key: number[] }
  | { op: 'next'; key: number[] | null }
  | { op: 'update'; key: number[]; value: SysValue; flags?: number };

export interface SysMap { type: number; keySize: number; valueSize: number; maxEntries: number; flags?: number; ops?: SysOp[] }

/**
 * What each call answered: `ok` (a lookup's value, a next key, as `ok:HEX`), or the errno's
 * name (`ENOTSUPP` for 524). The first entry is BPF_MAP_CREATE's (`ok`, or its errno: then
 * no operation runs).
 */
export type SysResult = string[];

const RUNNER = `
import ctypes, errno, json, os, struct, sys
nr = {'x86_64': 321, 'aarch64': 280}[os.uname().machine]
libc = ctypes.CDLL(None, use_errno=True)
def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    r = libc.syscall(nr, cmd, buf, 128)
    return r if r >= 0 else -ctypes.get_errno()
def name(e):
    return 'ENOTSUPP' if e == 524 else errno.errorcode.get(e, str(e))
cgroup2 = [l.split()[1] for l in open('/proc/mounts') if l.split()[2] == 'cgroup2'][0]
fds = {'cgroup': os.open(cgroup2, os.O_RDONLY | os.O_DIRECTORY), 'devnull': os.open('/dev/null', os.O_RDONLY), 'closed': 1000}
out = []
for m in json.loads(sys.argv[1]):
    fd = bpf(0, struct.pack('=IIIII', m['type'], m['keySize'], m['valueSize'], m['maxEntries'], m.get('flags', 0)))
    res = ['ok' if fd >= 0 else name(-fd)]
    for op in (m.get('ops') or []) if fd >= 0 else []:
        k = op.get('key')
        key = ctypes.create_string_buffer(bytes(k), max(len(k), 1)) if k is not None else None
        val = ctypes.create_string_buffer(max(m['valueSize'], m['keySize'], 8))
        kp = ctypes.addressof(key) if key is not None else 0
        if op['op'] == 'update':
            v = op['value']
            if isinstance(v, dict):
                n = fds[v['fd']]
                v = list(struct.pack('=Q' if m['valueSize'] == 8 else '=I', n))
            val = ctypes.create_string_buffer(bytes(v), max(len(v), 1))
            cmd, flags = 2, op.get('flags', 0)
        else:
            cmd, flags = {'lookup': 1, 'delete': 3, 'next': 4, 'lookupAndDelete': 21}[op['op']], 0
        # (a delete's attr ends at the key: anything after it is EINVAL)
        r = bpf(cmd, struct.pack('=IIQQQ', fd, 0, kp, 0 if cmd == 3 else ctypes.addressof(val), flags))
        if r < 0:
            res.append(name(-r))
        elif op['op'] in ('lookup', 'next', 'lookupAndDelete'):
            n = m['valueSize'] if op['op'] != 'next' else m['keySize']
            res.append('ok:' + val.raw[:n].hex())
        else:
            res.append('ok')
    out.append(res)
    if fd >= 0:
        os.close(fd)
print(json.dumps(out))
`;

let cached: string | null | undefined;

/** Why the kernel's bpf(2) cannot be called here, or undefined. */
export function bpfSysUnavailable(): string | undefined {
  if (cached === undefined) {
    cached = kernelUnavailableReason() ?? null;
    if (cached === null) {
      try {
        execFileSync('python3', ['-c', 'import ctypes'], { stdio: 'ignore' });
      } catch {
        cached = 'python3 not found';
      }
    }
  }
  return cached ?? undefined;
}

/** Creates each map on the host kernel, runs its operations, closes it: the answers, map by map. */
export function kernelMapOps(maps: SysMap[]): SysResult[] {
  return JSON.parse(execFileSync('python3', ['-c', RUNNER, JSON.stringify(maps)], { encoding: 'utf8' })) as SysResult[];
}
