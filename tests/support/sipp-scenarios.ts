import { join } from 'node:path';
import { REPO_ROOT } from '../../scripts/stack/env';

/** The XML scenarios only the tests play (tests/sipp); the SIPp driver is harness/sipp.ts. */
export const SCENARIOS = join(REPO_ROOT, 'tests', 'sipp');
