/**
 * The trace at the xdp hook (issue 22): a NIC's XDP program on each frame from the wire,
 * its action, the program, the rx queue, and where a redirect sent the frame; frames an
 * AF_XDP socket takes (XDP_REDIRECT into an XSKMAP) name the socket's device, as the
 * kernel's xdp:xdp_redirect tracepoint shows them where no capture sees them.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Emulator, dropReasonName } from '../../src/emulator.js';
import { buildIpv4, buildUdp, parseIp } from '../../src/net/stack/packet.js';
import { XDP_COPY, XDP_ZEROCOPY, XskSocket } from '../../src/xdp/socket.js';

let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

const VM = new Uint8Array([0x02, 0x56, 0x4d, 0, 0, 1]);

function frame(dst: Uint8Array, sport: number): Uint8Array {
  const s = parseIp('192.168.1.2')!;
  const d = parseIp('192.168.1.50')!;
  return buildIpv4(dst, new Uint8Array([2, 0, 0, 0, 0, 9]), { src: s, dst: d, proto: 17 }, buildUdp(s, d, sport, 9, new Uint8Array(32)));
}

/** eth0 steers VM's MAC to queue 15, leased to nk (foo) whose queue 1 has the socket; XDP redirects into the XSKMAP by rx queue. */
async function seed(jit: boolean, flags: number): Promise<{ sock: XskSocket; progId: number; nk: number; eth0: number }> {
  emu = await Emulator.create({ seed: 8, jit });
  const eth0 = emu.addNic({ name: 'eth0', rxQueues: 16 });
  emu.setLink('init', 'eth0', { up: true });
  emu.setRxSink('init', 'eth0', 'drop');
  emu.setRss('init', 'eth0', { start: 0, equal: 15 });
  emu.setRss('init', 'eth0', { start: 15, equal: 1, context: 'new' });
  emu.addNtuple('init', 'eth0', { flowType: 'ether', dstMac: VM, action: 15 });
  const obj = emu.loadObject(readFileSync(new URL('../fixtures/bpf/xdp_xsk.o', import.meta.url)));
  const prog = obj.programs.get('xsk_redirect')!;
  emu.setXdp('init', 'eth0', prog);
  const [nk] = emu.addLink({ ifname: 'nk', numRxQueues: 2, linkinfo: { kind: 'netkit', data: { pairing: 'single' } } });
  emu.queueCreate({ ifindex: nk!.ifindex, type: 'rx', lease: { ifindex: eth0.ifindex, queue: { id: 15, type: 'rx' } } });
  emu.addNetns('foo');
  emu.setLink('init', 'nk', { netns: 'foo' });
  emu.setLink('foo', 'nk', { up: true });
  const sock = new XskSocket(emu.dp, { umemSize: 64 * 4096 });
  emu.xskBind('foo', 'nk', 1, sock, { flags });
  obj.maps.get('xsks')!.setSocket(15, sock);
  await emu.settleJit();
  emu.tracer.enable();
  return { sock, progId: prog.id, nk: emu.device('foo', 'nk').ifindex, eth0: eth0.ifindex };
}

describe('trace: the xdp hook', () => {
  for (const jit of [true, false]) {
    for (const [mode, flags] of [['copy', XDP_COPY], ['zero-copy', XDP_ZEROCOPY]] as const) {
      it(`frames into an AF_XDP socket: REDIRECT to the socket's device; others PASS; no buffer: the redirect's drop (${jit ? 'compiled, in batches' : 'interpreter, per frame'}, ${mode})`, async () => {
        const { sock, progId, nk, eth0 } = await seed(jit, flags);
        sock.fillRing(Array.from({ length: 4 }, (_, i) => i * 4096));
        for (let i = 0; i < 4; i++) emu.wireIn('init', 'eth0', frame(VM, 1000 + i));
        emu.wireIn('init', 'eth0', frame(new Uint8Array([2, 0, 0, 0, 0, 7]), 2000));
        await emu.settle();
        expect(sock.recv()).toHaveLength(4);
        const ev = emu.tracer.drain().map((e) => [e.ifindex, e.hook, e.verdictName, e.progIds, e.queue, e.peerIfindex, e.mark, e.reason ? dropReasonName(e.reason) : '']);
        const toSock = [eth0, 'xdp', 'REDIRECT', [progId], 15, nk, 17, ''];
        expect(ev.slice(0, 4)).toEqual([toSock, toSock, toSock, toSock]);
        // (RSS over queues 0-14; the socket's key holds nothing there: bpf_redirect_map's default, PASS)
        expect(ev[4]).toEqual([eth0, 'xdp', 'PASS', [progId], expect.any(Number), 0, 0, '']);
        expect(ev[4]![4]).toBeLessThan(15);
        expect(ev).toHaveLength(5);
        // FILL empty: in copy mode the redirect finds no buffer and the frame is dropped; in
        // zero-copy mode the driver had none to receive it into, and XDP never ran.
        emu.wireIn('init', 'eth0', frame(VM, 3000));
        await emu.settle();
        const after = emu.tracer.drain().map((e) => [e.verdictName, e.peerIfindex, dropReasonName(e.reason)]);
        expect(after).toEqual(flags === XDP_COPY ? [['REDIRECT', nk, 'REDIRECT_FAILED']] : []);
      });
    }
  }
});
