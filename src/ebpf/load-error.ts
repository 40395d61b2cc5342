/** The ELF loader's error (elf.ts, btf.ts). */

import { NetError } from '../errors.js';

/**
 * A refused object: a NetError (EINVAL, as libbpf's bpf_object__open refuses a malformed
 * object) whose `log` is libbpf's message; `section` and `insn` (slot index in that
 * section) say where.
 */
export class LoadError extends NetError {
  readonly insn: number | undefined;
  /** The loader's log line (what libbpf prints), the same as `message`. */
  declare readonly log: string;

  constructor(reason: string, section?: string, insn?: number) {
    const where = section === undefined ? '' : insn === undefined ? `section '${section}': ` : `section '${section}' insn ${insn}: `;
    super('EINVAL', where + reason, where + reason);
    this.name = 'LoadError';
    this.section = section;
    this.insn = insn;
  }
}
