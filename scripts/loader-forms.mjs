#!/usr/bin/env node
/**
 * Rewrites a clang-compiled BPF object into an older object form that clang 14 no longer
 * writes, for test/fixtures/loader (issue 25). Nothing else in the object changes: the
 * sections are laid out again in their order, the section headers after them.
 *
 *   node scripts/loader-forms.mjs rela   IN.o OUT.o
 *     Every SHT_REL section of a code section (.relX) becomes SHT_RELA (.relaX, 24-byte
 *     Elf64_Rela entries). The addend an SHT_REL entry leaves in the instruction is moved
 *     into r_addend, and the instruction's field is cleared, as a RELA writer leaves it:
 *     R_BPF_64_64 (lddw): the first slot's imm; R_BPF_64_32 (call): the call's imm; both
 *     read as signed 32-bit. Relocation sections of other sections (.rel.BTF, .rel.debug_*,
 *     .rel.maps) stay SHT_REL.
 *   node scripts/loader-forms.mjs notype IN.o OUT.o
 *     Every STT_FUNC symbol of a code section other than .text becomes STT_NOTYPE with size
 *     0: programs named by untyped symbols, as BPF objects from before LLVM 7.
 *   node scripts/loader-forms.mjs nosym  IN.o OUT.o
 *     Those symbols are dropped (the symbol table renumbered, every relocation's symbol
 *     index and .llvm_addrsig's list with it): program sections with no symbol naming
 *     the program.
 *
 * Only ELF64 little-endian relocatable objects; the input is expected to be what clang
 * writes (one .symtab, strings in the table it links).
 */
import { readFileSync, writeFileSync } from 'node:fs';

const SHT_SYMTAB = 2, SHT_RELA = 4, SHT_NOBITS = 8, SHT_REL = 9, SHT_LLVM_ADDRSIG = 0x6fff4c03;
const SHF_EXECINSTR = 0x4;
const STT_NOTYPE = 0, STT_FUNC = 2;
const STB_LOCAL = 0;
const R_BPF_64_64 = 1, R_BPF_64_32 = 10;

function parse(buf) {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint32(0) !== 0x7f454c46 || buf[4] !== 2 || buf[5] !== 1) throw new Error('not an ELF64 little-endian object');
  const shoff = Number(dv.getBigUint64(40, true));
  const shnum = dv.getUint16(60, true);
  const shstrndx = dv.getUint16(62, true);
  const sections = [];
  for (let i = 0; i < shnum; i++) {
    const at = shoff + i * 64;
    const h = {
      name: dv.getUint32(at, true), type: dv.getUint32(at + 4, true), flags: dv.getBigUint64(at + 8, true),
      addr: dv.getBigUint64(at + 16, true), offset: Number(dv.getBigUint64(at + 24, true)), size: Number(dv.getBigUint64(at + 32, true)),
      link: dv.getUint32(at + 40, true), info: dv.getUint32(at + 44, true), addralign: dv.getBigUint64(at + 48, true), entsize: dv.getBigUint64(at + 56, true),
    };
    h.data = h.type === SHT_NOBITS || i === 0 ? new Uint8Array(0) : buf.slice(h.offset, h.offset + h.size);
    sections.push(h);
  }
  const nameOf = (s) => cstr(sections[shstrndx].data, s.name);
  return { header: buf.slice(0, 64), sections, shstrndx, nameOf };
}

function cstr(b, at) {
  let e = at;
  while (b[e]) e++;
  return Buffer.from(b.subarray(at, e)).toString();
}

function serialize(elf) {
  const parts = [elf.header];
  let at = 64;
  for (const [i, s] of elf.sections.entries()) {
    if (i === 0 || s.type === SHT_NOBITS) { s.offset = i === 0 ? 0 : at; s.size = i === 0 ? 0 : s.size; continue; }
    const align = Math.max(1, Number(s.addralign));
    const pad = (align - (at % align)) % align;
    if (pad) parts.push(new Uint8Array(pad));
    at += pad;
    s.offset = at;
    s.size = s.data.length;
    parts.push(s.data);
    at += s.data.length;
  }
  const pad = (8 - (at % 8)) % 8;
  if (pad) parts.push(new Uint8Array(pad));
  at += pad;
  const sht = new Uint8Array(elf.sections.length * 64);
  const dv = new DataView(sht.buffer);
  for (const [i, s] of elf.sections.entries()) {
    const o = i * 64;
    dv.setUint32(o, s.name, true); dv.setUint32(o + 4, s.type, true); dv.setBigUint64(o + 8, s.flags, true);
    dv.setBigUint64(o + 16, s.addr, true); dv.setBigUint64(o + 24, BigInt(s.offset), true); dv.setBigUint64(o + 32, BigInt(s.size), true);
    dv.setUint32(o + 40, s.link, true); dv.setUint32(o + 44, s.info, true); dv.setBigUint64(o + 48, s.addralign, true); dv.setBigUint64(o + 56, s.entsize, true);
  }
  parts.push(sht);
  const out = Buffer.concat(parts);
  const hv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  hv.setBigUint64(40, BigInt(at), true);
  hv.setUint16(60, elf.sections.length, true);
  return out;
}

const isCode = (elf, idx) => !!elf.sections[idx] && (elf.sections[idx].flags & BigInt(SHF_EXECINSTR)) !== 0n;

/** Symbols a rewrite retypes or drops: STT_FUNC symbols of code sections other than .text. */
function programSymbols(elf) {
  const symtab = elf.sections.find((s) => s.type === SHT_SYMTAB);
  const out = [];
  for (let k = 0; k * 24 < symtab.data.length; k++) {
    const info = symtab.data[k * 24 + 4];
    const shndx = new DataView(symtab.data.buffer, symtab.data.byteOffset).getUint16(k * 24 + 6, true);
    if ((info & 0xf) === STT_FUNC && isCode(elf, shndx) && elf.nameOf(elf.sections[shndx]) !== '.text') out.push(k);
  }
  return { symtab, indices: out };
}

function rela(elf) {
  const strtab = elf.sections[elf.shstrndx];
  for (const r of elf.sections) {
    if (r.type !== SHT_REL || !isCode(elf, r.info)) continue;
    const code = elf.sections[r.info];
    const cv = new DataView(code.data.buffer, code.data.byteOffset, code.data.byteLength);
    const rv = new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength);
    const n = r.data.length / 16;
    const out = new Uint8Array(n * 24);
    const ov = new DataView(out.buffer);
    for (let k = 0; k < n; k++) {
      const offset = rv.getBigUint64(k * 16, true);
      const info = rv.getBigUint64(k * 16 + 8, true);
      const type = Number(info & 0xffffffffn);
      if (type !== R_BPF_64_64 && type !== R_BPF_64_32) throw new Error(`${elf.nameOf(r)}: relocation type ${type} has no addend rule here`);
      const immAt = Number(offset) + 4;
      const addend = cv.getInt32(immAt, true);
      cv.setInt32(immAt, 0, true);
      ov.setBigUint64(k * 24, offset, true);
      ov.setBigUint64(k * 24 + 8, info, true);
      ov.setBigInt64(k * 24 + 16, BigInt(addend), true);
    }
    r.type = SHT_RELA;
    r.entsize = 24n;
    r.data = out;
    // The new name goes at the end of the section-name table (offsets of the others kept).
    const name = `.rela${elf.nameOf(r).slice('.rel'.length)}`;
    const at = strtab.data.length;
    strtab.data = Buffer.concat([strtab.data, Buffer.from(name + '\0')]);
    r.name = at;
  }
}

function notype(elf) {
  const { symtab, indices } = programSymbols(elf);
  const dv = new DataView(symtab.data.buffer, symtab.data.byteOffset, symtab.data.byteLength);
  for (const k of indices) {
    symtab.data[k * 24 + 4] = (symtab.data[k * 24 + 4] & 0xf0) | STT_NOTYPE;
    dv.setBigUint64(k * 24 + 16, 0n, true);
  }
}

function nosym(elf) {
  const { symtab, indices } = programSymbols(elf);
  const drop = new Set(indices);
  const total = symtab.data.length / 24;
  const renumber = new Map();
  const kept = [];
  for (let k = 0; k < total; k++) {
    if (drop.has(k)) continue;
    renumber.set(k, kept.length);
    kept.push(symtab.data.slice(k * 24, k * 24 + 24));
  }
  let firstGlobal = 0;
  for (const [old, now] of renumber) if ((symtab.data[old * 24 + 4] >> 4) === STB_LOCAL) firstGlobal = now + 1;
  symtab.data = Buffer.concat(kept);
  symtab.info = firstGlobal;
  for (const r of elf.sections) {
    if (r.type !== SHT_REL && r.type !== SHT_RELA) continue;
    const size = r.type === SHT_REL ? 16 : 24;
    const rv = new DataView(r.data.buffer, r.data.byteOffset, r.data.byteLength);
    for (let at = 0; at < r.data.length; at += size) {
      const info = rv.getBigUint64(at + 8, true);
      const sym = Number(info >> 32n);
      if (drop.has(sym)) throw new Error(`${elf.nameOf(r)}: a relocation names a dropped program symbol`);
      rv.setBigUint64(at + 8, (BigInt(renumber.get(sym)) << 32n) | (info & 0xffffffffn), true);
    }
  }
  // .llvm_addrsig lists symbol indices (ULEB128): renumbered too, dropped ones left out.
  for (const s of elf.sections) {
    if (s.type !== SHT_LLVM_ADDRSIG) continue;
    const out = [];
    for (let at = 0; at < s.data.length;) {
      let v = 0, shift = 0, b;
      do { b = s.data[at++]; v += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80);
      if (drop.has(v)) continue;
      let n = renumber.get(v);
      do { b = n & 0x7f; n = Math.floor(n / 128); out.push(n ? b | 0x80 : b); } while (n);
    }
    s.data = Uint8Array.from(out);
  }
}

const [op, input, output] = process.argv.slice(2);
const ops = { rela, notype, nosym };
if (!ops[op] || !input || !output) {
  console.error('usage: node scripts/loader-forms.mjs rela|notype|nosym IN.o OUT.o');
  process.exit(2);
}
const elf = parse(new Uint8Array(readFileSync(input)));
ops[op](elf);
writeFileSync(output, serialize(elf));
