// The kernel's errnos as helpers return them (negated, in r0's 64 bits): one list for
// every helper file, so a value is written once.

export const ENOENT: i64 = -2;
export const E2BIG: i64 = -7;
export const EAGAIN: i64 = -11;
export const ENOMEM: i64 = -12;
export const EACCES: i64 = -13;
export const EFAULT: i64 = -14;
export const ENODEV: i64 = -19;
export const EINVAL: i64 = -22;
export const EPROTO: i64 = -71;
export const EOPNOTSUPP: i64 = -95;
export const EAFNOSUPPORT: i64 = -97;
/** The kernel-internal ENOTSUPP (524), which some helpers return. */
export const ENOTSUPP: i64 = -524;
