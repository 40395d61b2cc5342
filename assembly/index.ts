export function abort(msg: usize, file: usize, line: u32, col: u32): void { unreachable(); }
export function add(a: u32, b: u32): u32 { return load<u32>(a) + b; }
export function heapBase(): usize { return __heap_base; }
