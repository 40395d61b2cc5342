// examples/bench: version 1 of a small XDP filter. Drops UDP and TCP packets to a list of
// blocked ports, passes the rest; the port is looked for in the list one entry at a time.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define NBLOCKED 32

// Ports in network order, so the packet's port is compared as read.
static const __u16 blocked[NBLOCKED] = {
	__bpf_constant_htons(19), __bpf_constant_htons(53), __bpf_constant_htons(69), __bpf_constant_htons(111),
	__bpf_constant_htons(123), __bpf_constant_htons(137), __bpf_constant_htons(138), __bpf_constant_htons(139),
	__bpf_constant_htons(161), __bpf_constant_htons(162), __bpf_constant_htons(389), __bpf_constant_htons(445),
	__bpf_constant_htons(500), __bpf_constant_htons(514), __bpf_constant_htons(520), __bpf_constant_htons(623),
	__bpf_constant_htons(1434), __bpf_constant_htons(1900), __bpf_constant_htons(2049), __bpf_constant_htons(3283),
	__bpf_constant_htons(3389), __bpf_constant_htons(3702), __bpf_constant_htons(5060), __bpf_constant_htons(5353),
	__bpf_constant_htons(5683), __bpf_constant_htons(6881), __bpf_constant_htons(10001), __bpf_constant_htons(11211),
	__bpf_constant_htons(17185), __bpf_constant_htons(27015), __bpf_constant_htons(32414), __bpf_constant_htons(37810),
};

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *l4 = (void *)(ip + 1);

	// (no IP options here: a header longer than 20 bytes passes unfiltered)
	if ((void *)(l4 + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5)
		return XDP_PASS;
	if (ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_TCP)
		return XDP_PASS;
#pragma clang loop unroll(disable)
	for (int i = 0; i < NBLOCKED; i++)
		if (l4->dest == blocked[i])
			return XDP_DROP;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
