/**
 * Preloaded into the stack's Node services by `BENCH_PROFILE=1 npm run bench:media`
 * (NODE_OPTIONS=--require; Node refuses --cpu-prof there): samples the process with
 * V8's profiler from start to exit and writes `<service>-<pid>.cpuprofile` (Chrome
 * DevTools format) into BENCH_PROFILE_DIR. The in-thread inspector session answers
 * synchronously, so the profile can still be taken in the 'exit' handler.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env['BENCH_PROFILE_DIR'];
const service = /services\/([^/]+)\/src\/main\.js$/.exec(process.argv[1] ?? '')?.[1];
if (dir && service) {
  const session = new Session();
  session.connect();
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.enable');
  session.post('Profiler.start');
  process.once('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (err) return;
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, `${service}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
