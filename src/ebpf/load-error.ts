/** The ELF loader's error (elf.ts, btf.ts). */

/** A refused object: `section` and `insn` (slot index in that section) say where. */
export class LoadError extends Error {
  readonly section: string | undefined;
  readonly insn: number | undefined;

  constructor(reason: string, section?: string, insn?: number) {
    const where = section === undefined ? '' : insn === undefined ? `section '${section}': ` : `section '${section}' insn ${insn}: `;
    super(where + reason);
    this.name = 'LoadError';
    this.section = section;
    this.insn = insn;
  }
}
