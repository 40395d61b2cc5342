// The browser scenario both bundled pages run: ping across a pair inline and with a
// dataplane Web Worker, a compiled eBPF program on the page's main thread, and a worker
// script that cannot load (create must reject with a NetError, not hang).
export async function scenario(Emulator, options) {
  async function run(workers) {
    const emu = await Emulator.create({ ...options, workers, seed: 9 });
    emu.addNetns('foo');
    emu.addLink({ ifname: 'nk1', linkinfo: { kind: 'netkit', data: { mode: 'l2', peerInfo: { ifname: 'nk0', netns: 'foo' } } } });
    emu.setLink('init', 'nk1', { up: true });
    emu.setLink('foo', 'nk0', { up: true });
    emu.addAddress('init', 'nk1', '10.0.0.1/24');
    emu.addAddress('foo', 'nk0', '10.0.0.2/24');
    const r = await emu.ping('init', '10.0.0.2', { count: 3 });
    const s = emu.stats(emu.device('init', 'nk1'));
    await emu.close();
    return { workers: emu.workers, received: r.received, text: r.format(), tx: String(s.txPackets), rx: String(s.rxPackets) };
  }
  // A compiled eBPF program on the page's main thread (where a browser may refuse
  // synchronous compiles of this size; then it compiles in the background and switches over).
  async function compiled() {
    const emu = await Emulator.create({ ...options, seed: 9 });
    const insns = new Uint8Array(802 * 8);
    const dv = new DataView(insns.buffer);
    insns[0] = 0xb7; // mov r0, 0 (the verifier wants r0 written before it is read)
    for (let i = 0; i < 800; i++) { insns[(i + 1) * 8] = 0x07; dv.setInt32((i + 1) * 8 + 4, i, true); } // add r0, i
    insns[801 * 8] = 0x95; // exit
    const prog = emu.loadProgram({ name: 'sum', type: 'sched_cls', insns });
    const before = prog.jit.reason;
    await emu.settleJit();
    const pkt = new Uint8Array(60);
    pkt[12] = 8;
    pkt[14] = 0x45;
    const r = emu.testRun(prog, { data: pkt });
    const out = { before, slot: prog.jit.slot, reason: prog.jit.reason, installed: (await emu.jitInstalled(prog))[0], retval: r.retval };
    await emu.close();
    return out;
  }
  async function badWorker() {
    const t0 = performance.now();
    try {
      await Emulator.create({ ...options, workers: 1, workerUrl: new URL('./no-such-worker.js', location.href), workerTimeoutMs: 10000 });
      return { resolved: true };
    } catch (e) {
      return { name: e.name, errno: e.errno, message: e.message, ms: performance.now() - t0 };
    }
  }
  try {
    return { isolated: crossOriginIsolated, inline: await run(0), worker: await run(1), compiled: await compiled(), badWorker: await badWorker() };
  } catch (e) {
    return { error: String((e && e.stack) || e) };
  }
}
