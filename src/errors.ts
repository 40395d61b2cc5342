/**
 * Errors of the control plane: the kernel's errno (name and number) plus, where the
 * kernel sets one, its extack message. `toString()` prints what iproute2 prints.
 */

const ERRNO = {
  EPERM: [1, 'Operation not permitted'],
  ENOENT: [2, 'No such file or directory'],
  ESRCH: [3, 'No such process'],
  ENXIO: [6, 'No such device or address'],
  E2BIG: [7, 'Argument list too long'],
  EBADF: [9, 'Bad file descriptor'],
  EAGAIN: [11, 'Resource temporarily unavailable'],
  ENOMEM: [12, 'Cannot allocate memory'],
  EACCES: [13, 'Permission denied'],
  EFAULT: [14, 'Bad address'],
  EBUSY: [16, 'Device or resource busy'],
  EEXIST: [17, 'File exists'],
  ENODEV: [19, 'No such device'],
  EINVAL: [22, 'Invalid argument'],
  ENFILE: [23, 'Too many open files in system'],
  ENOSPC: [28, 'No space left on device'],
  ERANGE: [34, 'Numerical result out of range'],
  ENOSYS: [38, 'Function not implemented'],
  ELOOP: [40, 'Too many levels of symbolic links'],
  ENONET: [64, 'Machine is not on the network'],
  ENOLINK: [67, 'Link has been severed'],
  EOVERFLOW: [75, 'Value too large for defined data type'],
  ENOTSOCK: [88, 'Socket operation on non-socket'],
  EMSGSIZE: [90, 'Message too long'],
  EOPNOTSUPP: [95, 'Operation not supported'],
  EADDRINUSE: [98, 'Address already in use'],
  EADDRNOTAVAIL: [99, 'Cannot assign requested address'],
  ENETDOWN: [100, 'Network is down'],
  ENETUNREACH: [101, 'Network is unreachable'],
  ENOBUFS: [105, 'No buffer space available'],
  ENOTCONN: [107, 'Transport endpoint is not connected'],
  ESHUTDOWN: [108, 'Cannot send after transport endpoint shutdown'],
  ETIMEDOUT: [110, 'Connection timed out'],
  EHOSTUNREACH: [113, 'No route to host'],
  ESTALE: [116, 'Stale file handle'],
  // The kernel's internal ENOTSUPP, which some bpf syscall paths hand to user space as is.
  ENOTSUPP: [524, 'Unknown error 524'],
} as const;

export type Errno = keyof typeof ERRNO;

/** The errno number of a name (e.g. `errnoNumber('EINVAL') === 22`). */
export function errnoNumber(name: Errno): number {
  return ERRNO[name][0];
}

/** strerror(3) text of an errno name. */
export function strerror(name: Errno): string {
  return ERRNO[name][1];
}

/** A control-plane failure: errno plus the kernel's extack message, if it sets one. */
export class NetError extends Error {
  readonly errno: Errno;
  readonly code: number;
  /** The kernel's extack text, or undefined when the kernel gives none. */
  readonly extack: string | undefined;
  /**
   * On a refused program or object load: the log a user would read (the verifier's line,
   * or libbpf's message naming the program or map). Undefined for other refusals.
   */
  readonly log: string | undefined;
  /** On a refusal while loading an object: the program (function) and its ELF section. */
  program: string | undefined;
  section: string | undefined;
  /**
   * On a program of an object the checks refused: what libbpf prints for it, line for line
   * (`libbpf: prog 'p': BPF program load failed: …`, the load log between its BEGIN/END
   * markers, `libbpf: prog 'p': failed to load: -13`).
   */
  libbpfLog: string | undefined;

  constructor(errno: Errno, extack?: string, log?: string) {
    super(extack ?? strerror(errno));
    this.name = 'NetError';
    this.errno = errno;
    this.code = ERRNO[errno][0];
    this.extack = extack;
    this.log = log;
  }

  /** As iproute2 prints it: `Error: <extack>.` or `RTNETLINK answers: <strerror>`. */
  iproute2(): string {
    if (this.extack === undefined) return `RTNETLINK answers: ${strerror(this.errno)}`;
    return `Error: ${this.extack}${this.extack.endsWith('.') ? '' : '.'}`;
  }
}

/**
 * A refused load's error with a log: `e` itself when it has one (the verifier's, the ELF
 * loader's), else the same errno and text with `log()` attached. Anything else passes.
 */
export function withLog(e: unknown, log: (e: NetError) => string): unknown {
  if (!(e instanceof NetError) || e.log !== undefined) return e;
  const out = new NetError(e.errno, e.extack, log(e));
  if (e.stack) out.stack = e.stack;
  return out;
}

/** Throws NetError(errno, extack). */
export function fail(errno: Errno, extack?: string): never {
  throw new NetError(errno, extack);
}
