/** Why a program cannot be compiled (it runs on the interpreter); `pc` names the instruction. */
export class CodegenError extends Error {
  constructor(readonly reason: string, readonly pc: number) {
    super(`insn ${pc}: ${reason}`);
  }
}
