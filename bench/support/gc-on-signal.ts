/**
 * Preloaded into the stack's Node services by `npm run bench:api-soak`
 * (NODE_OPTIONS=--require; Node 20 refuses --expose-gc there): SIGUSR2 runs a full
 * garbage collection, so the bench reads the heap a process really holds rather
 * than what it has not collected yet.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

if (/services\/[^/]+\/src\/main\.js$/.test(process.argv[1] ?? '')) {
  // The flag exposes gc() to contexts created after it; an inspector session would
  // do too, but HeapProfiler.collectGarbage from an in-thread session can deadlock.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  process.on('SIGUSR2', () => {
    // Twice: the first pass runs finalizers whose objects the second one frees.
    gc();
    gc();
  });
}
