/**
 * The playground page: one emulator (dataplane in Web Workers when the page is
 * cross-origin isolated, inline otherwise), the console, the topology, packets and eBPF
 * panels, and the scenarios. `document.body.dataset.state` is "ready" once the default
 * scenario has run (tests wait for it).
 */

import { dropReasonName } from '../../src/net/drop.js';
import { buildPacket } from '../../src/packet.js';
import { closeBench, xmitRate } from './bench.js';
import { BpfPanel } from './bpf.js';
import type { CompletionWorld } from './complete.js';
import { Packets, setReasonNames } from './packets.js';
import { SCENARIOS, type Scenario } from './scenarios.js';
import { Session } from './session.js';
import { files } from './shims/fs.js';
import { createConsole } from './terminal.js';
import { Counters, drawLinks, render, signature, snapshot, type Snapshot } from './topology.js';

const $ = <T extends HTMLElement>(sel: string): T => document.querySelector(sel) as T;
const params = new URLSearchParams(location.search);
const isolated = globalThis.crossOriginIsolated === true;
const workers = isolated ? Math.max(0, Math.min(4, Number(params.get('workers') ?? 1) || 0)) : 0;
const t0 = performance.now();

declare global {
  interface Window { nkemu: unknown }
}

const status = (t: string): void => { $('#status').textContent = t; };

async function main(): Promise<void> {
  setReasonNames(dropReasonName);
  // The shipped example objects, where the scenario scripts (and `nkemu run` from a checkout) find them.
  const objects = (await (await fetch(new URL('./objects/index.json', import.meta.url))).json()) as string[];
  await Promise.all(objects.map(async (n) => {
    const r = await fetch(new URL(`./objects/${n}.o`, import.meta.url));
    files.set(`test/fixtures/bpf/${n}.o`, new Uint8Array(await r.arrayBuffer()));
  }));

  let snap: Snapshot | undefined;
  let sig = '';
  const topo = $<HTMLElement>('#topology');
  const counters = new Counters();
  const world = (): CompletionWorld => ({
    namespaces: session.ready ? session.emu.listNetns() : [],
    devices: new Map((snap?.namespaces ?? []).map((n) => [n.name, n.devices.map((d) => d.name)])),
    files: [...files.keys()],
    scenarios: SCENARIOS.map((s) => s.id),
  });
  const con = createConsole($('#terminal'), $('#log'), world);
  let redraw = (): void => undefined;
  const session = new Session({ workers, write: (t, s) => con.write(t, s), changed: () => redraw() });
  const packets = new Packets(session, $<HTMLTableElement>('#packets').tBodies[0]!, $<HTMLTableElement>('#trace').tBodies[0]!, $('#packet-detail'));
  const devList = (): string[] => (snap?.namespaces ?? []).flatMap((n) => n.devices.filter((d) => d.kind !== 'loopback').map((d) => d.key));
  const bpf = new BpfPanel(session, $('#bpf'), devList);
  const trafficDev = $<HTMLSelectElement>('#traffic-dev');

  redraw = (): void => {
    if (!session.ready) return;
    snap = snapshot(session.emu);
    const next = signature(snap);
    if (next !== sig) {
      sig = next;
      render(topo, snap);
      const keep = trafficDev.value;
      const netkits = (snap?.namespaces ?? []).flatMap((n) => n.devices.filter((d) => d.kind === 'netkit').map((d) => d.key));
      trafficDev.innerHTML = netkits.map((d) => `<option${d === keep ? ' selected' : ''}>${d}</option>`).join('');
    }
    counters.update(topo, session.emu);
    // (after a command: a new device joins the capture before traffic reaches it)
    packets.poll();
  };
  new ResizeObserver(() => snap && drawLinks(topo, snap)).observe(topo);

  // ---- the scenarios: each on a fresh emulator, its script shown in the console as it runs
  const nav = $<HTMLElement>('#scenarios');
  let current: string | undefined;
  const runScenario = async (sc: Scenario): Promise<number> => {
    stopTraffic();
    current = sc.id;
    for (const b of nav.querySelectorAll('button')) b.classList.toggle('active', b.dataset.scenario === sc.id);
    document.body.dataset.scenario = sc.id;
    document.body.dataset.scenarioState = 'running';
    await session.reset();
    counters.reset();
    packets.clear();
    con.write(`\n# ── scenario: ${sc.title} (${sc.file}) ──\n`, 'echo');
    const code = await session.script(sc.text, sc.file);
    packets.poll();
    await bpf.refresh(true);
    document.body.dataset.scenarioState = code === 0 ? 'done' : 'failed';
    status(`${sc.title}: ${code === 0 ? 'done' : `exit ${code}`} · ${session.workers ? `${session.workers} dataplane worker${session.workers > 1 ? 's' : ''}` : 'inline dataplane (not cross-origin isolated)'}`);
    return code;
  };
  for (const sc of SCENARIOS) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = sc.title;
    b.title = sc.summary;
    b.dataset.scenario = sc.id;
    b.addEventListener('click', () => void runScenario(sc));
    nav.append(b);
  }

  // ---- traffic: pktgen bursts on a device until stopped (counters show the rates)
  const trafficBtn = $<HTMLButtonElement>('#traffic');
  let traffic = false;
  function stopTraffic(): void {
    traffic = false;
    trafficBtn.setAttribute('aria-pressed', 'false');
    trafficBtn.textContent = '▶ traffic';
  }
  trafficBtn.addEventListener('click', async () => {
    if (traffic) return stopTraffic();
    const dev = trafficDev.value;
    if (!dev || !session.ready) return;
    traffic = true;
    trafficBtn.setAttribute('aria-pressed', 'true');
    trafficBtn.textContent = '■ stop';
    const [ns, name] = [dev.slice(0, dev.indexOf('/')), dev.slice(dev.indexOf('/') + 1)];
    const gen = session.generation;
    // The peer's rx goes to the dataplane's counting drop sink meanwhile (the page's IPv4
    // stack would answer every datagram on this thread), and the capture and the trace
    // pause (each packet would be copied out and written as pcapng on this thread): the
    // traffic runs at the worker's speed and the page keeps drawing.
    const peer = await session.read((emu) => {
      const p = emu.device(ns, name).netkit?.peer;
      if (p) emu.setRxSink(p.netns.name, p.name, 'drop');
      packets.pause(true);
      emu.tracer.enable(false);
      return p && { ns: p.netns.name, name: p.name };
    });
    const frame = buildPacket({ eth: { src: new Uint8Array(6), dst: new Uint8Array(6) }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 9, dport: 9 }, size: 64 });
    con.write(`# traffic: pktgen on ${dev} (64 B, 16 flows) until stopped${peer ? `; ${peer.ns}/${peer.name} receives into a drop sink` : ''}; capture and trace paused meanwhile\n`, 'echo');
    try {
      while (traffic && gen === session.generation) {
        await session.read((emu) => emu.pktgen(ns, name, frame, { count: 1 << 18, flows: 16 }));
        await new Promise((res) => setTimeout(res, 0));
      }
    } catch (e) {
      con.write(`traffic: ${(e as Error).message}\n`, 'stderr');
    } finally {
      if (gen === session.generation) {
        await session.read((emu) => {
          if (peer) emu.setRxSink(peer.ns, peer.name, 'stack');
          emu.tracer.enable(true);
          packets.pause(false);
        });
      }
      stopTraffic();
    }
  });

  // ---- packets
  $('#pcap').addEventListener('click', () => {
    packets.poll();
    const blob = new Blob([packets.pcapng() as BlobPart], { type: 'application/octet-stream' });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = `nkemu-${current ?? 'capture'}.pcapng`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  });
  $('#clear-packets').addEventListener('click', () => packets.clear());
  const filter = $<HTMLInputElement>('#packet-filter');
  filter.addEventListener('input', () => packets.setFilter(filter.value));

  // ---- eBPF objects: examples, file dialog, drag and drop
  const ex = $<HTMLSelectElement>('#bpf-examples');
  for (const n of objects) ex.append(new Option(`${n}.o`, n));
  ex.addEventListener('change', () => {
    if (!ex.value) return;
    void bpf.load(ex.value, files.get(`test/fixtures/bpf/${ex.value}.o`)!).then(() => bpf.refresh());
    ex.value = '';
  });
  const fileInput = $<HTMLInputElement>('#bpf-file');
  fileInput.addEventListener('change', async () => {
    for (const f of fileInput.files ?? []) await bpf.load(f.name, new Uint8Array(await f.arrayBuffer()));
    fileInput.value = '';
    await bpf.refresh();
  });
  const drop = $<HTMLElement>('#dropzone');
  for (const el of [drop, document.body]) {
    el.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
    el.addEventListener('dragleave', () => drop.classList.remove('over'));
    el.addEventListener('drop', async (e) => {
      e.preventDefault();
      drop.classList.remove('over');
      for (const f of e.dataTransfer?.files ?? []) await bpf.load(f.name, new Uint8Array(await f.arrayBuffer()));
      await bpf.refresh();
    });
  }

  // ---- live updates: counters and packets every 250 ms, eBPF maps every second
  let tick = 0;
  const timer = setInterval(() => {
    if (!session.ready) return;
    redraw();
    if (++tick % 4 === 0) void bpf.refresh();
  }, 250);

  // ---- the console
  const help = (): string => `Tools: ip, ping, pktgen, wire, nic, ethtool, ynl, zcrx, sysctl, bpftool, xdpsock, wait
(each as \`nkemu TOOL ...\` runs it). Page commands: help, clear, reset (a fresh emulator),
scenario NAME (${SCENARIOS.map((s) => s.id).join(', ')}). Files: ${[...files.keys()].join(', ')}\n`;
  window.nkemu = { session, packets, bpf, bench: {
      xmitRate, closeBench,
      // (the bench measures Node and the page one after the other: the page stays idle meanwhile)
      idle: async () => { clearInterval(timer); stopTraffic(); session.ready = false; await session.emu.close(); },
    }, runScenario: (id: string) => runScenario(SCENARIOS.find((s) => s.id === id)!), scenarios: SCENARIOS };

  const first = SCENARIOS[0]!;
  con.write(`nkemu playground: the Linux netkit packet path in WebAssembly, ${workers ? `dataplane in ${workers} Web Worker${workers > 1 ? 's' : ''}` : 'inline dataplane'}.\nType \`help\`. Running the default scenario:\n`, 'echo');
  await runScenario(first);
  document.body.dataset.state = 'ready';
  document.body.dataset.readyMs = String(Math.round(performance.now() - t0));
  con.focus();
  await con.loop(async (line) => {
    const words = line.trim().split(/\s+/);
    if (words[0] === 'help') con.write(help());
    else if (words[0] === 'clear') con.write('\x1b[2J\x1b[H');
    else if (words[0] === 'reset') { stopTraffic(); await session.reset(); packets.clear(); counters.reset(); }
    else if (words[0] === 'scenario') {
      const sc = SCENARIOS.find((s) => s.id === words[1]);
      if (sc) await runScenario(sc);
      else con.write(`scenario: one of ${SCENARIOS.map((s) => s.id).join(', ')}\n`, 'stderr');
    } else await session.line(line);
  }, () => session.interrupt());
}

main().catch((e: unknown) => {
  document.body.dataset.state = 'error';
  status(`failed: ${e instanceof Error ? e.message : String(e)}`);
  console.error(e);
});
