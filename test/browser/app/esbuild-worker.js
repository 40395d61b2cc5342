// The dataplane worker, bundled by esbuild as an entry point of its own.
import 'nkemu/worker';
