/**
 * The eBPF panel: load a clang-compiled object (dropped on the page, picked from a file
 * dialog, or one of the shipped examples) with `bpftool prog loadall`, typed into the
 * console so that it shows there; every loaded program with its type, where it runs
 * (compiled to WebAssembly or on the interpreter, and why), its disassembly and an attach
 * form (which runs `bpftool net attach` in the console too), and its run count and average
 * run time (run_cnt, run_time_ns: counted while kernel.bpf_stats_enabled is 1, which the
 * page turns on); every map with its entries, refreshed while traffic runs.
 */

import { runCommand } from '../../src/cli/run.js';
import { disassemble } from '../../src/ebpf/assembler.js';
import type { BpfProgram } from '../../src/ebpf/program.js';
import type { ProgStats } from '../../src/ebpf/stats.js';
import { files } from './shims/fs.js';
import type { Session } from './session.js';

const esc = (t: string): string => t.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

interface MapShow { id: number; type: string; name: string; bytes_key: number; bytes_value: number; max_entries: number }
interface MapEntry { key: string[]; value?: string[] | unknown; values?: unknown; formatted?: { key: unknown; value?: unknown; values?: unknown } }

const ATTACH_TYPES = ['netkit_primary', 'netkit_peer', 'xdp'];

export class BpfPanel {
  private shown = '';
  private open = new Set<string>();

  constructor(private readonly session: Session, private readonly host: HTMLElement, private readonly devices: () => string[]) {
    host.addEventListener('toggle', (e) => {
      const d = e.target as HTMLDetailsElement;
      if (d.dataset.key) (d.open ? this.open.add(d.dataset.key) : this.open.delete(d.dataset.key));
    }, true);
    host.addEventListener('click', (e) => {
      const b = (e.target as HTMLElement).closest('button[data-attach]') as HTMLButtonElement | null;
      if (!b) return;
      const card = b.closest('.prog-card')!;
      const dev = (card.querySelector('select[name=dev]') as HTMLSelectElement).value;
      const type = (card.querySelector('select[name=type]') as HTMLSelectElement).value;
      const [ns, name] = [dev.slice(0, dev.indexOf('/')), dev.slice(dev.indexOf('/') + 1)];
      const cmd = `bpftool net attach ${type} id ${b.dataset.attach} dev ${name}`;
      void this.session.line(ns === 'init' ? cmd : `ip netns exec ${ns} ${cmd}`, { echo: true });
    });
  }

  /** Puts an object in the page's filesystem and loads it with bpftool, in the console. */
  async load(name: string, bytes: Uint8Array): Promise<number> {
    const base = name.replace(/\.o$/, '').replace(/[^A-Za-z0-9_.-]/g, '_') || 'object';
    const path = `uploads/${base}.o`;
    files.set(path, bytes);
    const pin = `/sys/fs/bpf/${base}_${Date.now().toString(36).slice(-4)}`;
    return this.session.line(`bpftool prog loadall ${path} ${pin}`, { echo: true });
  }

  async refresh(force = false): Promise<void> {
    if (!this.session.ready) return;
    // (read in one go between commands: the emulator cannot change or be replaced meanwhile)
    const { progs, maps, dumps, stats, counting } = await this.session.read(async (emu) => {
      const progs = [...emu.bpf.progs.values()].filter((p) => !p.closed);
      const stats = new Map(progs.map((p) => [p.id, emu.progStats(p)]));
      const counting = emu.bpfStatsEnabled();
      let maps: MapShow[] = [];
      const r = await runCommand(emu, ['bpftool', '-j', 'map', 'show']);
      if (r.code === 0 && r.stdout.trim()) maps = JSON.parse(r.stdout) as MapShow[];
      const dumps = new Map<number, string>();
      for (const m of maps) {
        if (m.type === 'prog_array' || m.type === 'xskmap' || m.type === 'devmap' || m.type === 'ringbuf') { dumps.set(m.id, `(${m.type})`); continue; }
        const d = await runCommand(emu, ['bpftool', '-j', 'map', 'dump', 'id', String(m.id)]);
        dumps.set(m.id, d.code === 0 ? entries(d.stdout) : d.stderr.trim());
      }
      return { progs, maps, dumps, stats, counting };
    });
    const devs = this.devices();
    const key = JSON.stringify([progs.map((p) => [p.id, p.jit.slot, p.jit.reason]), [...dumps], maps.map((m) => m.id), devs]);
    // (the run counts change in place: a new card only when something else changed, so
    // that a half-filled attach form stays as it is)
    const runs = (): void => {
      for (const el of this.host.querySelectorAll<HTMLElement>('.runs[data-runs]')) el.textContent = runsText(stats.get(Number(el.dataset.runs)), counting);
    };
    if (key === this.shown && !force) return runs();
    this.shown = key;
    this.host.innerHTML = (progs.length ? '' : '<p class="muted">No programs loaded. Pick an example object or drop a <code>.o</code>.</p>')
      + progs.map((p) => this.progCard(p, devs)).join('')
      + maps.map((m) => `<div class="map-card" data-map="${m.id}"><b>map ${m.id}</b> ${esc(m.name)} <span class="muted">${esc(m.type)} key ${m.bytes_key} B value ${m.bytes_value} B max ${m.max_entries}</span><pre>${esc(dumps.get(m.id) ?? '')}</pre></div>`).join('');
    for (const d of this.host.querySelectorAll<HTMLDetailsElement>('details[data-key]')) d.open = this.open.has(d.dataset.key!);
    runs();
  }

  private progCard(p: BpfProgram, devs: string[]): string {
    const compiled = p.jit.slot > 0;
    const jit = compiled
      ? `<span class="jit compiled">compiled to WebAssembly (${p.jit.bytes} B, ${p.jit.compileMs.toFixed(1)} ms)</span>`
      : `<span class="jit interp">interpreter: ${esc(p.jit.reason || 'not compiled')}</span>`;
    let asm: string;
    try {
      asm = disassemble(p.insns).map((l, i) => `${String(i).padStart(4)}: ${l}`).join('\n');
    } catch (e) {
      asm = `(cannot disassemble: ${(e as Error).message})`;
    }
    return `<div class="prog-card" data-prog="${p.id}"><b>prog ${p.id}</b> ${esc(p.name)} <span class="muted">${esc(p.type)}${p.expectedAttachType ? ` / ${esc(p.expectedAttachType)}` : ''} · ${p.insns.length >> 3} insns · tag ${esc(p.tag)}</span><br>${jit} <span class="runs muted" data-runs="${p.id}" title="run_cnt, and run_time_ns / run_cnt as bpftool prog show has them; timed with performance.now(), which browsers coarsen (5 µs or more), so the time is rough here"></span>`
      + `<details data-key="asm${p.id}"><summary>disassembly</summary><pre>${esc(asm)}</pre></details>`
      + `<div class="attach"><select name="type" aria-label="attach type">${ATTACH_TYPES.map((t) => `<option${t === defaultType(p) ? ' selected' : ''}>${t}</option>`).join('')}</select>`
      + `<select name="dev" aria-label="device">${devs.map((d) => `<option>${esc(d)}</option>`).join('')}</select><button type="button" data-attach="${p.id}">attach</button></div></div>`;
  }
}

/** "runs 1,234 · ~56 ns/run", as bpftool's run_cnt and run_time_ns / run_cnt (a rough time: see the title). */
function runsText(st: ProgStats | undefined, counting: boolean): string {
  if (!st || st.runCnt === 0) return counting ? '· no runs yet' : '· runs not counted (kernel.bpf_stats_enabled 0)';
  return `· runs ${st.runCnt.toLocaleString('en-US')} · ~${Math.round(st.runTimeNs / st.runCnt)} ns/run${counting ? '' : ' (counting off)'}`;
}

function defaultType(p: BpfProgram): string {
  if (p.type === 'xdp') return 'xdp';
  return p.expectedAttachType === 'netkit_peer' ? 'netkit_peer' : 'netkit_primary';
}

/** A map's entries as `key → value` lines (BTF-formatted where the map has BTF), zero values left out of arrays. */
function entries(json: string): string {
  let list: MapEntry[];
  try {
    list = JSON.parse(json) as MapEntry[];
  } catch {
    return json;
  }
  const show = (v: unknown): string => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? v.join(' ') : JSON.stringify(v));
  const lines = list
    .filter((e) => !(Array.isArray(e.value) && e.value.every((b) => b === '0x00')) && !(e.formatted && e.formatted.value === 0))
    .map((e) => (e.formatted ? `${show(e.formatted.key)} → ${show(e.formatted.value ?? e.formatted.values)}` : `${show(e.key)} → ${show(e.value ?? e.values)}`));
  return lines.length ? `${lines.slice(0, 64).join('\n')}${lines.length > 64 ? `\n… ${lines.length - 64} more` : ''}` : `(${list.length} entries, all zero)`;
}
