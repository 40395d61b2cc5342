/**
 * The public surface as the type checker sees it: Emulator's public members with their
 * types, the options' keys, and every name src/index.ts exports.
 */

import { resolve } from 'node:path';
import ts from 'typescript';

const ROOT = resolve(import.meta.dirname, '../..');

export interface Surface {
  emulator: Record<string, string>;
  statics: Record<string, string>;
  options: string[];
  exports: string[];
  /** What src/emulator.ts exports (tests import `prng` and `dropReasonName` from it). */
  emulatorModule: string[];
}

export function publicSurface(): Surface {
  const index = resolve(ROOT, 'src/index.ts');
  const emulatorFile = resolve(ROOT, 'src/emulator.ts');
  const program = ts.createProgram([index, emulatorFile], { strict: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, noEmit: true, skipLibCheck: true, types: ['node'] });
  const checker = program.getTypeChecker();
  const mod = checker.getSymbolAtLocation(program.getSourceFile(index)!)!;
  const exported = checker.getExportsOfModule(mod);
  // (types by name, without the module they come from: moving a type is no change)
  const show = (t: ts.Type): string => checker.typeToString(t, undefined, ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseFullyQualifiedType)
    .replace(/import\("[^"]*"(, \{ with: \{ [^}]* \} \})?\)\./g, '');
  const members = (t: ts.Type): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const p of checker.getPropertiesOfType(t)) {
      const decl = p.valueDeclaration ?? p.declarations?.[0];
      const flags = decl ? ts.getCombinedModifierFlags(decl as ts.Declaration) : 0;
      if (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected) || p.name.startsWith('#')) continue;
      out[p.name] = show(checker.getTypeOfSymbol(p));
    }
    return out;
  };
  const emu = exported.find((s) => s.name === 'Emulator')!;
  const cls = checker.getDeclaredTypeOfSymbol(emu);
  const opts = checker.getDeclaredTypeOfSymbol(exported.find((s) => s.name === 'EmulatorOptions')!);
  const statics = members(checker.getTypeOfSymbol(emu));
  delete statics.prototype;
  return {
    emulator: members(cls),
    statics,
    options: checker.getPropertiesOfType(opts).map((p) => p.name).sort(),
    exports: exported.map((s) => s.name).sort(),
    emulatorModule: checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(emulatorFile)!)!).map((s) => s.name).sort(),
  };
}
