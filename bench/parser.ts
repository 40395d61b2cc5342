/**
 * The small parser the xmit bench attaches (and test/ebpf/list-code.test.ts lists): a
 * bounds check, EtherType, IP protocol, UDP destination port; DROP for `port`, else NEXT
 * (so a list of them all runs; the last NEXT means PASS). No maps: a list of them shares
 * no state.
 */
export function udpPortParser(port: number): string {
  return `
ldxw %r2, [%r1+76]
ldxw %r3, [%r1+80]
mov %r4, %r2
add %r4, 42
jgt %r4, %r3, next
ldxh %r5, [%r2+12]
jne %r5, 0x8, next
ldxb %r5, [%r2+23]
jne %r5, 17, next
ldxh %r5, [%r2+36]
jeq %r5, ${((port & 0xff) << 8) | (port >> 8)}, drop
next:
mov %r0, -1
exit
drop:
mov %r0, 2
exit`;
}
