// examples/bench: version 2 of the XDP filter of xdp_filter_v1.c, same verdicts: the
// blocked ports are bits of an 8 KiB bitmap (65,536 bits), so the port costs one lookup, not a scan.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// One bit per port (host order): word p / 64, bit p % 64 (the ports of xdp_filter_v1.c).
#define B(p) (1ULL << ((p) & 63))
static const __u64 blocked[1024] = {
	[0] = B(19) | B(53),
	[1] = B(69) | B(111) | B(123),
	[2] = B(137) | B(138) | B(139) | B(161) | B(162),
	[6] = B(389) | B(445),
	[7] = B(500),
	[8] = B(514) | B(520),
	[9] = B(623),
	[22] = B(1434),
	[29] = B(1900),
	[32] = B(2049),
	[51] = B(3283),
	[52] = B(3389),
	[57] = B(3702),
	[79] = B(5060),
	[83] = B(5353),
	[88] = B(5683),
	[107] = B(6881),
	[156] = B(10001),
	[175] = B(11211),
	[268] = B(17185),
	[422] = B(27015),
	[506] = B(32414),
	[590] = B(37810),
};

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *l4 = (void *)(ip + 1);
	__u16 port;

	if ((void *)(l4 + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5)
		return XDP_PASS;
	if (ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_TCP)
		return XDP_PASS;
	port = bpf_ntohs(l4->dest);
	return blocked[port >> 6] & (1ULL << (port & 63)) ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
